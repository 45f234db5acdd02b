import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';

export interface SilentEndpoint {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  close(): void;
}

/** An endpoint that accepts connections and reads requests but never answers: a stuck AWS service. */
export async function startSilentEndpoint(): Promise<SilentEndpoint> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.resume();
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
