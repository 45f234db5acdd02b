// Types for the deep undici imports of undici-core.ts (the package ships types for its entry only).
declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';

  const AgentImpl: typeof Agent;
  export default AgentImpl;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';

  function request(this: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  export default request;
}

declare module 'undici/lib/core/connect.js' {
  import type { buildConnector } from 'undici';

  const buildConnectorImpl: typeof buildConnector;
  export default buildConnectorImpl;
}
