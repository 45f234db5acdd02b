#!/usr/bin/env node
// The `tanium-tr` command: loads the TypeScript sources through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// A reader that went away (`tanium-tr actions | head -1`) leaves nothing to report to, and is no reason
// to crash with an uncaught EPIPE. Commands that start servers listen too, to stop them first.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
register();
const { main } = await import('./main.ts');
const status = await main(process.argv.slice(2));
// Stopped by a signal (128 + its number): the command has released what it held, and whatever of it still
// runs (an S3 upload, a poll's timer) must not hold the exit.
if (status > 128) process.exit(status);
process.exitCode = status;
