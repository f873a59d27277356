// The webhook over real HTTPS on 127.0.0.1:0: what the API server's TLS client sees.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { DEFAULT_CONFIG } from '../../../src/inject/config.js';
import { loadPairFiles, watchPairFiles } from '../../../src/tls/files.js';
import type { NamespaceFacts } from '../../../src/inject/types.js';
import type { CertPair } from '../../../src/tls/generate.js';
import { localPki, type LocalPki } from '../../../src/tls/local.js';
import { createMetrics } from '../../../src/webhook/metrics.js';
import { trustingNamespaceSource } from '../../../src/webhook/namespace-source.js';
import { startWebhookServer, type WebhookServer } from '../../../src/webhook/server.js';
import { review, skipAll } from '../webhook/fixtures.js';
import { eventually } from '../../support/eventually.js';

interface Handshake {
  protocol: string | null;
  fingerprint: string;
}

/** Opens a TLS connection, reports the protocol and the certificate served, closes. */
function handshake(port: number, opts: tls.ConnectionOptions): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ...opts }, () => {
      const result = { protocol: socket.getProtocol(), fingerprint: socket.getPeerCertificate().fingerprint256 };
      socket.end();
      resolve(result);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('handshake timed out')));
    socket.on('error', reject);
  });
}

function postReview(port: number, opts: https.RequestOptions): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(review());
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, method: 'POST', path: '/inject', headers: { 'content-type': 'application/json' }, agent: false, timeout: 5000, ...opts },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * Sends a body of `size` bytes the way a strict client does: every byte written before
 * the answer is read, each write awaited. A write that fails (the server reset the
 * connection) rejects, with how far it got.
 */
function postWholeBody(port: number, ca: string, size: number, chunked: boolean): Promise<{ head: string; body: string }> {
  const chunk = Buffer.alloc(1024 * 1024, 'x');
  return new Promise((resolve, reject) => {
    let sent = 0;
    let got = '';
    let written = false;
    let answer: { head: string; body: string } | undefined;
    // Both must hold: the whole body went out, and the whole answer came back.
    const done = () => {
      if (!written || answer === undefined) return;
      socket.end();
      resolve(answer);
    };
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, async () => {
      const length = chunked ? 'transfer-encoding: chunked' : `content-length: ${size}`;
      socket.write(`POST /inject HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n${length}\r\n\r\n`);
      const write = (data: string | Buffer) => new Promise<void>((ok, fail) => socket.write(data, (err) => (err ? fail(err) : ok())));
      try {
        while (sent < size) {
          await write(chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]) : chunk);
          sent += chunk.length;
        }
        if (chunked) await write('0\r\n\r\n');
        written = true;
        done();
      } catch (err) {
        reject(new Error(`write failed after ${sent} of ${size} bytes: ${(err as Error).message}`));
      }
    });
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      got += d;
      const [head = '', body = ''] = got.split('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(head)?.[1];
      if (length !== undefined && Buffer.byteLength(body) >= Number(length)) {
        answer = { head, body };
        done();
      }
    });
    socket.on('error', (err) => reject(new Error(`${err.message} after ${sent} of ${size} bytes; read ${JSON.stringify(got.slice(0, 60))}`)));
    socket.setTimeout(30_000, () => socket.destroy(new Error('timed out')));
  });
}

/** POST /inject on an open HTTP/2 session: the status and the body as text. */
function h2Post(session: http2.ClientHttp2Session, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/inject', 'content-type': 'application/json' });
    let text = '';
    let status = 0;
    stream.setEncoding('utf8');
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: string) => (text += d));
    stream.on('end', () => resolve({ status, body: text }));
    stream.on('error', reject);
    stream.end(body);
  });
}

function fingerprint(pem: string): string {
  return new X509Certificate(pem).fingerprint256;
}


describe('webhook over HTTPS', () => {
  let pki: LocalPki;
  let server: WebhookServer;
  let port: number;
  const metrics = createMetrics();

  before(async () => {
    pki = await localPki();
    server = await startWebhookServer({
      app: { decide: skipAll, namespaces: trustingNamespaceSource(), cluster: {}, config: DEFAULT_CONFIG, metrics },
      tls: pki.serving,
      host: '127.0.0.1',
      port: 0,
    });
    port = Number(new URL(server.url).port);
  });
  after(() => server.close());

  test('answers AdmissionReviews to a client that trusts the generated CA, for localhost and 127.0.0.1', async () => {
    for (const opts of [{ ca: pki.ca.cert, servername: 'localhost' }, { ca: pki.ca.cert }]) {
      const res = await postReview(port, opts);
      assert.equal(res.status, 200);
      assert.equal(JSON.parse(res.body).response.allowed, true);
    }
  });

  test('a client without the CA refuses the certificate', async () => {
    await assert.rejects(postReview(port, { servername: 'localhost' }), (err: NodeJS.ErrnoException) => /CERT|SIGNED|VERIFY/.test(err.code ?? ''));
  });

  // Closing at once with the body still arriving made the kernel reset the connection:
  // a client writing its whole body first (Go's net/http, the API server's) got
  // "broken pipe" and never the 413, two times out of three.
  for (const chunked of [false, true]) {
    test(`a 64 MiB review (${chunked ? 'chunked' : 'content-length'}) is read to its end and answered 413, three times out of three`, async () => {
      for (let i = 0; i < 3; i++) {
        const { head, body } = await postWholeBody(port, pki.ca.cert, 64 * 1024 * 1024, chunked);
        assert.match(head, /^HTTP\/1\.1 413 /);
        assert.match(JSON.parse(body).message, /larger than 8388608 bytes/);
      }
    });
  }

  // What an API server does with a loopback webhook that offers h2 (kubernetes PR #122558):
  // every call on one connection, so one handshake for any number of reviews.
  test('a client offering h2 gets HTTP/2: 20 concurrent reviews on one connection, one handshake; an oversized body is still a 413', async () => {
    const count = async () => Number(/^splice_webhook_tls_handshakes_total\{session="new",protocol="h2"\} (\d+)$/m.exec(await metrics.registry.metrics())?.[1] ?? 0);
    const before = await count();
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.ca.cert, servername: 'localhost' });
    try {
      const post = (body: string) => h2Post(session, body);
      const answers = await Promise.all(Array.from({ length: 20 }, () => post(JSON.stringify(review()))));
      for (const a of answers) {
        assert.equal(a.status, 200);
        assert.equal(JSON.parse(a.body).response.allowed, true);
      }
      assert.equal(session.alpnProtocol, 'h2');
      const big = await post('x'.repeat(9 * 1024 * 1024));
      assert.equal(big.status, 413);
      assert.match(JSON.parse(big.body).message, /larger than 8388608 bytes/);
      assert.equal((await post(JSON.stringify(review()))).status, 200, 'the connection still serves after a 413');
    } finally {
      session.close();
    }
    assert.equal((await count()) - before, 1);
  });

  test('idle connections outlive the API server\'s idle pool (90 s), over HTTP/1.1 and HTTP/2', () => {
    const h1 = (server.app.server as unknown as { keepAliveTimeout?: number }).keepAliveTimeout ?? 0;
    assert.ok(h1 > 90_000, `HTTP/1.1 keep-alive timeout ${h1} ms`);
    const h2 = server.app.initialConfig.http2SessionTimeout ?? 0;
    assert.ok(h2 > 90_000, `HTTP/2 session timeout ${h2} ms`);
  });

  test('plain HTTP is not served on the webhook port', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/inject`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).catch((err: Error) => err);
    assert.ok(res instanceof Error || res.status >= 400, 'plain HTTP must not reach the handler');
  });

  test('each handshake is counted, full or resumed: a client that brings back its session resumes it', async () => {
    const count = async (session: string) => {
      const text = await metrics.registry.metrics();
      const m = new RegExp(`^splice_webhook_tls_handshakes_total\\{session="${session}",protocol="none"\\} (\\d+)$`, 'm').exec(text);
      return Number(m?.[1] ?? 0);
    };
    const before = { new: await count('new'), resumed: await count('resumed') };
    // TLS 1.2, where the session is known once the handshake ends (a 1.3 ticket comes after).
    const first = await new Promise<Buffer>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost', maxVersion: 'TLSv1.2' }, () => {
        const session = socket.getSession();
        socket.end();
        if (session) resolve(session);
        else reject(new Error('no session'));
      });
      socket.on('error', reject);
    });
    const reused = await new Promise<boolean>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost', maxVersion: 'TLSv1.2', session: first }, () => {
        const r = socket.isSessionReused();
        socket.end();
        resolve(r);
      });
      socket.on('error', reject);
    });
    assert.equal(reused, true, 'the server resumes a session it issued');
    await eventually(async () => (await count('new')) === before.new + 1 && (await count('resumed')) === before.resumed + 1);
  });

  test('TLS 1.1 is refused by the server; TLS 1.2 and 1.3 are accepted', async () => {
    // SECLEVEL=0 lets node's client offer TLS 1.1 at all, so the refusal observed is
    // the server's "protocol version" alert and not the client declining to try.
    await assert.rejects(
      handshake(port, { ca: pki.ca.cert, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
    );
    for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
      const h = await handshake(port, { ca: pki.ca.cert, servername: 'localhost', minVersion: version, maxVersion: version });
      assert.equal(h.protocol, version);
    }
  });
});

describe('certificate files rotated on disk are served without a restart', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'splice-tls-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  // Writes a pair the way the kubelet updates a Secret volume: a new timestamped
  // directory, then an atomic rename of the `..data` symlink; tls.crt and tls.key are
  // symlinks through `..data` and never change themselves.
  let generation = 0;
  async function publish(pair: CertPair): Promise<void> {
    generation += 1;
    const versioned = `..v${generation}`;
    await mkdir(join(dir, versioned));
    await writeFile(join(dir, versioned, 'tls.crt'), pair.cert);
    await writeFile(join(dir, versioned, 'tls.key'), pair.key);
    await symlink(versioned, join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    if (generation === 1) {
      await symlink(join('..data', 'tls.crt'), join(dir, 'tls.crt'));
      await symlink(join('..data', 'tls.key'), join(dir, 'tls.key'));
    }
  }

  test('a new pair (from a new CA) is picked up; a broken one is reported and the old one kept', async () => {
    const first = await localPki();
    const second = await localPki();
    await publish(first.serving);
    const certFile = join(dir, 'tls.crt');
    const keyFile = join(dir, 'tls.key');
    const loaded = await loadPairFiles(certFile, keyFile);

    const server = await startWebhookServer({
      app: { decide: skipAll, namespaces: trustingNamespaceSource(), cluster: {}, config: DEFAULT_CONFIG, metrics: createMetrics() },
      tls: loaded,
      host: '127.0.0.1',
      port: 0,
    });
    const port = Number(new URL(server.url).port);
    const errors: Error[] = [];
    let reloads = 0;
    const stop = watchPairFiles({
      certFile,
      keyFile,
      current: loaded,
      intervalMs: 20,
      onReload: (pair) => {
        reloads += 1;
        server.setCertificate(pair);
      },
      onError: (err) => errors.push(err),
    });
    try {
      assert.equal((await handshake(port, { ca: first.ca.cert, servername: 'localhost' })).fingerprint, fingerprint(first.serving.cert));

      // A mismatched pair (new certificate, old key) must not replace the working one.
      await publish({ cert: second.serving.cert, key: first.serving.key });
      await eventually(async () => errors.length > 0);
      assert.match(errors[0]?.message ?? '', /does not belong/);
      assert.equal((await handshake(port, { ca: first.ca.cert, servername: 'localhost' })).fingerprint, fingerprint(first.serving.cert));

      await publish(second.serving);
      await eventually(async () => reloads > 0);
      const h = await handshake(port, { ca: second.ca.cert, servername: 'localhost' });
      assert.equal(h.fingerprint, fingerprint(second.serving.cert));
      const res = await postReview(port, { ca: second.ca.cert, servername: 'localhost' });
      assert.equal(res.status, 200);
      // The swapped context keeps the TLS floor.
      await assert.rejects(
        handshake(port, { ca: second.ca.cert, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
        (err: NodeJS.ErrnoException) => err.code === 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
      );
      assert.equal(reloads, 1, 'an unchanged pair is not reloaded again');
    } finally {
      stop();
      await server.close();
    }
  });
});

/**
 * A webhook server whose requests wait, once they reach the namespace lookup (where a
 * request waits on the network in production), until `release` is called.
 */
async function gatedServer(): Promise<{ server: WebhookServer; pki: LocalPki; asked: () => boolean; release: () => void }> {
  const pki = await localPki();
  let open: (facts: NamespaceFacts) => void = () => undefined;
  let asked = false;
  const gate = new Promise<NamespaceFacts>((resolve) => (open = resolve));
  const server = await startWebhookServer({
    app: { decide: skipAll, namespaces: { get: () => ((asked = true), gate), ready: () => true }, cluster: {}, config: DEFAULT_CONFIG, metrics: createMetrics() },
    tls: pki.serving,
    host: '127.0.0.1',
    port: 0,
  });
  return { server, pki, asked: () => asked, release: () => open({ name: 'shop', labels: {}, annotations: {} }) };
}

describe('graceful close', () => {
  test('stops accepting connections, finishes the request in flight', async () => {
    const { server, pki, asked, release } = await gatedServer();
    const port = Number(new URL(server.url).port);
    const inFlight = postReview(port, { ca: pki.ca.cert, servername: 'localhost' });
    await eventually(async () => asked());

    const closed = server.close();
    const refused = () =>
      new Promise<boolean>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port });
        socket.on('connect', () => (socket.destroy(), resolve(false)));
        socket.on('error', () => resolve(true));
      });
    await eventually(refused);

    release();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).response.allowed, true);
    await closed;
  });

  test('an open HTTP/2 connection is told to go away: its request in flight finishes, and close does not wait on the client', async () => {
    const { server, pki, asked, release } = await gatedServer();
    // A client that keeps its connection, as an API server does.
    const session = http2.connect(server.url, { ca: pki.ca.cert, servername: 'localhost' });
    const goaway = new Promise<void>((resolve) => session.once('goaway', () => resolve()));
    try {
      const answer = h2Post(session, JSON.stringify(review()));
      await eventually(async () => asked());
      const started = Date.now();
      const closed = server.close();
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000).unref());
      assert.notEqual(await Promise.race([goaway, timeout]), 'timeout', 'no GOAWAY within 5 s of close()');
      release();
      const res = await answer;
      assert.equal(res.status, 200);
      assert.equal(JSON.parse(res.body).response.allowed, true);
      await closed;
      assert.ok(Date.now() - started < 5000, `close took ${Date.now() - started} ms with the client still connected`);
    } finally {
      session.destroy();
    }
  });
});
