/**
 * The two parts of undici this client uses. undici's entry file loads everything it offers (fetch,
 * WebSocket, mocks, caches: about 530 KB in a bundle) and esbuild cannot drop what is unused; the agent
 * and the request API alone come to about 200 KB, which keeps every function under its size budget.
 */
import type { Dispatcher, Agent as UndiciAgent } from 'undici';
import requestImpl from 'undici/lib/api/api-request.js';
import AgentImpl from 'undici/lib/dispatcher/agent.js';

export type Agent = UndiciAgent;
export const Agent: typeof UndiciAgent = AgentImpl;

/** `dispatcher.request(options)` without relying on undici's entry file patching the prototype. */
export function request(
  dispatcher: Dispatcher,
  options: Dispatcher.RequestOptions,
): Promise<Dispatcher.ResponseData> {
  return requestImpl.call(dispatcher, options);
}
