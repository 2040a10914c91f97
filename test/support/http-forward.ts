import { type IncomingMessage, request, type ServerResponse } from 'node:http';

/**
 * Passes a request on to `upstream` as it came (its body piped, or `body`
 * when the hop has already read it), and the answer back: the plain HTTP
 * hop the tests' proxies in front of moto are built on.
 */
export function forward(upstream: URL, req: IncomingMessage, res: ServerResponse, body?: Buffer): void {
  const fwd = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    },
  );
  fwd.on('error', () => res.destroy());
  if (body) fwd.end(body);
  else req.pipe(fwd);
}
