/**
 * `ws` (a dependency of @kubernetes/client-node) ships no types: the little of it the fake API's upgraded
 * endpoints (exec, portforward) use, described once.
 */
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';

export interface WsSocket {
  readonly protocol: string;
  readonly readyState: number;
  send(data: Buffer): void;
  close(code?: number): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'close', listener: () => void): void;
}
export interface WsServer {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: WsSocket) => void): void;
  close(): void;
}
interface WsModule {
  WebSocketServer: new (options: {
    noServer: true;
    handleProtocols: (protocols: Set<string>) => string | false;
  }) => WsServer;
}
export const { WebSocketServer } = createRequire(import.meta.url)('ws') as WsModule;
