import { App } from 'aws-cdk-lib';
import { buildApp } from './build.ts';

// `cdk synth -c env=prod`; cdk.json defaults to dev.
const app = new App();
buildApp(app, String(app.node.tryGetContext('env') ?? 'dev'));
app.synth();
