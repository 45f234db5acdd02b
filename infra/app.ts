import { App } from 'aws-cdk-lib';
import { buildApp, environmentFromContext } from './build.ts';
import { EnvironmentError } from './environments.ts';

// `cdk synth -c env=prod`, always named: see environmentFromContext.
const app = new App();
try {
  buildApp(app, environmentFromContext(app.node.getAllContext()));
} catch (error) {
  // A stack trace would bury the one line that says what to fix.
  if (!(error instanceof EnvironmentError)) throw error;
  console.error(error.message);
  process.exit(1);
}
app.synth();
