import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';

/**
 * Passes a request on to `upstream` as it came (its body piped, through
 * `body` when that is a stream, or `body` itself when the hop has already
 * read it), and the answer back: the plain HTTP hop the tests' proxies in
 * front of moto are built on.
 */
export function forward(
  upstream: URL,
  req: IncomingMessage,
  res: ServerResponse,
  body?: Buffer | Transform,
): void {
  const fwd = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    },
  );
  fwd.on('error', () => res.destroy());
  if (Buffer.isBuffer(body)) fwd.end(body);
  else if (body) req.pipe(body).pipe(fwd);
  else req.pipe(fwd);
}
