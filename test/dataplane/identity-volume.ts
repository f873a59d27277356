// The identity volume as the kubelet lays out a projected Secret volume: the files in a
// timestamped directory, `..data` pointing at it, and each name a symlink through
// `..data`. A new version is switched in by renaming a fresh `..data` symlink over the
// old one, atomically: exactly the move Envoy's watched_directory reacts to.
import { existsSync } from 'node:fs';
import { chown, mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes version `version` of the volume in `dir`. `owner` (a uid) owns the files, as
 * the kubelet's fsGroup would make them readable to the proxy; root keeps them otherwise.
 */
export async function writeIdentity(dir: string, version: string, files: Record<string, string>, owner?: number): Promise<void> {
  const versionDir = join(dir, `..${version}`);
  await mkdir(versionDir);
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(versionDir, name), text, { mode: 0o600 });
    if (owner !== undefined) await chown(join(versionDir, name), owner, owner);
  }
  await symlink(`..${version}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!existsSync(join(dir, name))) await symlink(join('..data', name), join(dir, name));
  }
}
