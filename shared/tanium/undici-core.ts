/**
 * The parts of undici this client uses. undici's entry file loads everything it offers (fetch,
 * WebSocket, mocks, caches: about 530 KB in a bundle) and esbuild cannot drop what is unused; the agent
 * and the request API alone come to about 290 KB (half of it llhttp's two WebAssembly builds, SIMD and
 * the fallback undici loads only where SIMD is missing), which keeps every function under its budget.
 */
import type { Dispatcher, Agent as UndiciAgent, buildConnector as undiciBuildConnector } from 'undici';
import requestImpl from 'undici/lib/api/api-request.js';
import connectorImpl from 'undici/lib/core/connect.js';
import AgentImpl from 'undici/lib/dispatcher/agent.js';

export type Agent = UndiciAgent;
export const Agent: typeof UndiciAgent = AgentImpl;
/** What undici connects with when given options; the agent wraps it to watch its sockets. */
export const buildConnector: typeof undiciBuildConnector = connectorImpl;

/** `dispatcher.request(options)` without relying on undici's entry file patching the prototype. */
export function request(
  dispatcher: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return requestImpl.call(dispatcher, options);
}
