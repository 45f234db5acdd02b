#!/usr/bin/env node
// The `tanium-tr` command: loads the TypeScript sources through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// A reader that went away (`tanium-tr actions | head -1`) leaves nothing to report to, and is no reason
// to crash with an uncaught EPIPE. Commands that start servers listen too, to stop them first.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
register();
const { main } = await import('./main.ts');
process.exitCode = await main(process.argv.slice(2));
