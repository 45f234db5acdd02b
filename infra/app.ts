import { App } from 'aws-cdk-lib';
import { buildApp } from './build.ts';
import { EnvironmentError } from './environments.ts';

// `cdk synth -c env=prod`; cdk.json defaults to dev.
const app = new App();
try {
  buildApp(app, String(app.node.tryGetContext('env') ?? 'dev'));
} catch (error) {
  // A stack trace would bury the one line that says what to fix.
  if (!(error instanceof EnvironmentError)) throw error;
  console.error(error.message);
  process.exit(1);
}
app.synth();
