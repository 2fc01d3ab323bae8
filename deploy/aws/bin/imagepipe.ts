#!/usr/bin/env node
// The CDK app: one ImagepipeStack, checked by cdk-nag's AwsSolutions pack
// (an unsuppressed finding fails the synth). Settings come from context
// (cdk synth -c key=value, or cdk.json):
//   certificateArn  ACM certificate of domainName (required to deploy)
//   domainName      the API's DNS name, pointed at the load balancer
//   imageUri        a prebuilt image instead of building the Dockerfile
//   alarmEmail      where alarms go
import { App, Aspects } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ImagepipeStack } from '../lib/imagepipe-stack';

const app = new App();
const ctx = (key: string): string | undefined => app.node.tryGetContext(key);
const imageUri = ctx('imageUri');
new ImagepipeStack(app, 'Imagepipe', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION ?? 'us-east-1' },
  // A placeholder lets `cdk synth` run offline; deploy with the real ones.
  certificateArn: ctx('certificateArn') ?? 'arn:aws:acm:us-east-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
  domainName: ctx('domainName') ?? 'api.example.com',
  image: imageUri ? ecs.ContainerImage.fromRegistry(imageUri) : undefined,
  alarmEmail: ctx('alarmEmail'),
});
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
