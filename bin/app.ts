#!/usr/bin/env node
/**
 * The CDK app. `npx cdk synth` synthesizes the dev stage; `-c stage=prod` another one.
 * Everything is composed in lib/sdap-app.ts so that tests synthesize the very same app.
 */
import { App } from 'aws-cdk-lib';
import { configureApp } from '../lib/sdap-app.ts';

configureApp(new App());
