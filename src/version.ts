// The splice version, written into every injected pod's status annotation. Kept in
// code (not read from package.json at run time) so the engine stays free of I/O; a
// unit test holds it equal to package.json's version.
export const SPLICE_VERSION = '0.4.0';
