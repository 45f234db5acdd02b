import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AnsweringServer {
  /** `http://127.0.0.1:<port>`: a Tanium base URL. */
  url: string;
  close(): void;
}

/**
 * A plain-HTTP server on loopback that gives every request the answer `answer` writes: a Tanium that
 * answers what the emulator never would (a wrong coding, a byte order mark, a login without a session).
 */
export async function startAnsweringServer(
  answer: (response: ServerResponse) => void,
): Promise<AnsweringServer> {
  const server = createServer((_request, response) => answer(response));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      server.closeAllConnections();
      server.close();
    },
  };
}
