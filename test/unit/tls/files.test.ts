import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TlsFileError, loadPairFiles } from '../../../src/tls/files.js';
import { localPki } from '../../../src/tls/local.js';

describe('loadPairFiles names the file at fault', async () => {
  const pki = await localPki();
  let dir: string;
  const file = (name: string) => join(dir, name);
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'splice-files-'));
    await writeFile(file('tls.crt'), pki.serving.cert);
    await writeFile(file('tls.key'), pki.serving.key);
    await writeFile(file('ca.key'), pki.ca.key);
    await writeFile(file('garbage'), 'hello\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('a good pair loads', async () => {
    const pair = await loadPairFiles(file('tls.crt'), file('tls.key'));
    assert.equal(pair.cert, pki.serving.cert);
    assert.equal(pair.key, pki.serving.key);
  });

  const cases: Array<[string, string, string, RegExp]> = [
    ['missing certificate', 'nope.crt', 'tls.key', /^--tls-cert .*nope\.crt: cannot read it \(no such file\)/],
    ['missing key', 'tls.crt', 'nope.key', /^--tls-key .*nope\.key: cannot read it \(no such file\)/],
    ['certificate is not PEM', 'garbage', 'tls.key', /^--tls-cert .*garbage: the certificate is not a PEM X\.509 certificate/],
    ['key is not PEM', 'tls.crt', 'garbage', /^--tls-key .*garbage: the private key is not a PEM private key/],
    ['key of another certificate', 'tls.crt', 'ca.key', /^--tls-cert .*tls\.crt and --tls-key .*ca\.key: the private key does not belong to the certificate/],
  ];
  for (const [name, cert, key, message] of cases) {
    test(name, async () => {
      await assert.rejects(loadPairFiles(file(cert), file(key)), (err: Error) => err instanceof TlsFileError && message.test(err.message));
    });
  }
});
