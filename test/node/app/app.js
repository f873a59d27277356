// The node tests' application: one small program for every role a test pod plays.
//   (no args)      a server: HTTP on $HTTP_PORT (8080), a TCP banner on $TCP_PORT (9000) and
//                  gRPC health (grpc.health.v1.Health/Check) on $GRPC_PORT (9090): SERVING,
//                  but NOT_SERVING for the service "down"
//   call URL...    a client: one HTTP GET per URL, all at once; prints "<status> <body>"
//                  or "error <code>" for each, in the order given
//   load URL S MS  a client: one GET every MS ms for S seconds, then {ok, failed, errors}
// HTTP paths: /            "hello from <pod>"
//             /healthz     200, or 503 after /fail (and 200 again after /heal)
//             /slow?ms=N   answers after N ms (requests in flight at shutdown)
//             /close-tcp   closes the TCP listener (its probe must then fail)
//             /proxy-ready what 127.0.0.1:15021/ready answered when the app started
// On SIGTERM the server answers what is in flight before it exits, and with $SHUTDOWN_CALL set
// it also calls that URL every 200 ms for $SHUTDOWN_MS (2000) and logs each result, so
// a test sees whether the app's own calls still get out while the pod shuts down.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

const pod = process.env.POD_NAME ?? 'unknown';

function get(url, timeoutMs = 10_000) {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(`${res.statusCode} ${body.trim()}`));
      res.on('error', (e) => resolve(`error ${e.code ?? e.message}`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e) => resolve(`error ${e.code ?? e.message}`));
  });
}

if (process.argv[2] === 'load') {
  // load URL SECONDS INTERVAL_MS: one GET every INTERVAL_MS for SECONDS, then a summary.
  const [url, seconds, every] = process.argv.slice(3);
  const until = Date.now() + Number(seconds) * 1000;
  const summary = { ok: 0, failed: 0, errors: [] };
  while (Date.now() < until) {
    const r = await get(url, 3000);
    if (r.startsWith('200 ')) summary.ok++;
    else {
      summary.failed++;
      summary.errors.push(`${new Date().toISOString()} ${r}`);
    }
    await new Promise((resolve) => setTimeout(resolve, Number(every)));
  }
  console.log(JSON.stringify(summary));
  process.exit(0);
}

if (process.argv[2] === 'call') {
  // All at once (requests in flight together), printed in the order given.
  for (const line of await Promise.all(process.argv.slice(3).map((url) => get(url)))) console.log(line);
  process.exit(0);
}

const startedAt = new Date().toISOString();
// Asked once, at start: was the proxy already ready when the app was started?
const proxyReady = await get('http://127.0.0.1:15021/ready', 1000);
console.log(`app ${pod} started at ${startedAt}; proxy ready: ${proxyReady}`);

let healthy = true;
let tcp;
const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://app');
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`${body}\n`);
  };
  switch (url.pathname) {
    case '/':
      return reply(200, `hello from ${pod}`);
    case '/healthz':
      return reply(healthy ? 200 : 503, healthy ? 'ok' : 'failing');
    case '/fail':
      healthy = false;
      return reply(200, 'now failing');
    case '/heal':
      healthy = true;
      return reply(200, 'healthy again');
    case '/slow':
      console.log('slow request received');
      return setTimeout(() => reply(200, `slow answer from ${pod}`), Number(url.searchParams.get('ms') ?? 1000));
    case '/close-tcp':
      tcp.close();
      return reply(200, 'tcp listener closed');
    case '/proxy-ready':
      return reply(200, proxyReady);
    default:
      return reply(404, 'not found');
  }
});
server.keepAliveTimeout = 1000;
server.listen(Number(process.env.HTTP_PORT ?? 8080));
// A TCP probe connects and resets; a reset socket is not the app's failure.
tcp = net
  .createServer((s) => {
    s.on('error', () => {});
    s.end(`banner from ${pod}\n`);
  })
  .listen(Number(process.env.TCP_PORT ?? 9000));

// gRPC over cleartext HTTP/2, as the kubelet's gRPC probe speaks it: a 5-byte frame header
// around a protobuf HealthCheckResponse whose one field is status (1 SERVING, 2 NOT_SERVING).
const grpc = http2
  .createServer()
  .on('stream', (stream, headers) => {
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('error', () => {});
    stream.on('end', () => {
      const body = Buffer.concat(chunks).subarray(5);
      const service = body[0] === 0x0a ? body.subarray(2, 2 + body[1]).toString() : '';
      const known = headers[':path'] === '/grpc.health.v1.Health/Check';
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': known ? '0' : '12' }));
      stream.end(known ? Buffer.from([0, 0, 0, 0, 2, 0x08, service === 'down' ? 2 : 1]) : Buffer.alloc(0));
    });
  })
  .listen(Number(process.env.GRPC_PORT ?? 9090));

process.on('SIGTERM', async () => {
  console.log(`app ${pod} got SIGTERM`);
  // Requests in flight are answered; the process exits once they are.
  const closed = new Promise((resolve) => server.close(resolve));
  tcp.close();
  grpc.close();
  const target = process.env.SHUTDOWN_CALL;
  if (target) {
    const until = Date.now() + Number(process.env.SHUTDOWN_MS ?? 2000);
    while (Date.now() < until) {
      console.log(`shutdown call: ${await get(target, 1000)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  await closed;
  console.log(`app ${pod} exiting`);
  process.exit(0);
});
