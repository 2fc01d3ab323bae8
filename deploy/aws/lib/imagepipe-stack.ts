// imagepipe on AWS: the stores (storage.ts), the secrets, one Fargate
// service per target behind an Application Load Balancer (REST and gRPC),
// the variants CDN, least-privilege task roles (iam.ts), processor
// autoscaling on backlog per task and the alarms. docs/DEPLOYMENT.md is the
// reference this follows.
import * as path from 'path';
import { Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwactions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { NagSuppressions } from 'cdk-nag';
import { Construct } from 'constructs';
import { grantTarget, Target, TARGETS } from './iam';
import { goDuration, Storage } from './storage';

/** Ports of every task: REST (gateway), gRPC (the other targets), ops (/healthz, /readyz, /metrics). */
export const HTTP_PORT = 8080;
export const GRPC_PORT = 9090;
export const OPS_PORT = 9100;

/** gRPC services each target serves: the load balancer routes /imagepipe.v1.<Service>/* to it. */
export const GRPC_SERVICES: Record<Exclude<Target, 'gateway'>, string[]> = {
  ingest: ['IngestService'],
  processor: ['ProcessorService'],
  status: ['StatusService', 'AdminService'],
};

/** Size and count of one target's tasks. */
export interface TaskSize {
  readonly cpu: number;
  readonly memoryMiB: number;
  readonly count: number;
}

export interface ImagepipeStackProps extends StackProps {
  /** ARN of the ACM certificate of domainName: the load balancer's HTTPS listener (gRPC needs TLS). */
  readonly certificateArn: string;
  /** The API's DNS name (on the certificate, pointed at the load balancer); CloudFront reaches the gateway there. */
  readonly domainName: string;
  /** Prefix of queue and table names; default imagepipe. */
  readonly name?: string;
  /**
   * The image every target runs. Default: built from the repository's
   * Dockerfile at deploy (cdk deploy needs Docker; synth does not).
   */
  readonly image?: ecs.ContainerImage;
  /** processor.max-attempts; default 3 (the job queue's maxReceiveCount is 4). */
  readonly maxAttempts?: number;
  /** processor.visibility; default 60 s. */
  readonly visibility?: Duration;
  /** Jobs each processor task runs at once (IMAGEPIPE_PROCESSOR_WORKERS); default: the task's vCPUs. */
  readonly processorWorkers?: number;
  /** Most processor tasks autoscaling may run; default 20. */
  readonly processorMaxTasks?: number;
  /** Task sizes per target. */
  readonly sizes?: Partial<Record<Target, TaskSize>>;
  /** ?ttl= of the status URL; default none (records are kept). */
  readonly statusTTL?: Duration;
  /** Global webhook URLs (IMAGEPIPE_WEBHOOKS_URLS); their secrets come from the WebhookSecrets secret. */
  readonly webhookUrls?: string[];
  /** Origins allowed to post the direct-upload form to the originals bucket. */
  readonly corsOrigins?: string[];
  /** Prefixes of abandoned uploads besides uploads/ and the S3 driver's staging, expired after a day; default none. */
  readonly abandonedUploadPrefixes?: string[];
  /** Seconds the oldest job may wait before the latency alarm fires; default 300. */
  readonly oldestJobAlarmSeconds?: number;
  /** E-mail address told about alarms. */
  readonly alarmEmail?: string;
}

const DEFAULT_SIZES: Record<Target, TaskSize> = {
  ingest: { cpu: 512, memoryMiB: 1024, count: 2 },
  processor: { cpu: 2048, memoryMiB: 4096, count: 2 },
  status: { cpu: 512, memoryMiB: 1024, count: 2 },
  gateway: { cpu: 512, memoryMiB: 1024, count: 2 },
};

/** Cloud Map namespace in which the gateway finds the gRPC targets. */
const NAMESPACE = 'imagepipe.internal';

export class ImagepipeStack extends Stack {
  readonly storage: Storage;
  readonly services: Record<Target, ecs.FargateService>;

  constructor(scope: Construct, id: string, props: ImagepipeStackProps) {
    super(scope, id, props);
    const name = props.name ?? 'imagepipe';
    const sizes = { ...DEFAULT_SIZES, ...props.sizes };
    const maxAttempts = props.maxAttempts ?? 3;
    const visibility = props.visibility ?? Duration.seconds(60);
    const workers = props.processorWorkers ?? Math.max(1, Math.floor(sizes.processor.cpu / 1024));

    const logBucket = accessLogBucket(this);
    this.storage = new Storage(this, 'Stores', {
      name, maxAttempts, visibility, statusTTL: props.statusTTL,
      abandonedPrefixes: props.abandonedUploadPrefixes ?? [],
      corsOrigins: props.corsOrigins ?? [],
      accessLogs: logBucket,
    });
    const secrets = newSecrets(this);

    const vpc = new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    vpc.addFlowLog('FlowLog');
    const cluster = new ecs.Cluster(this, 'Cluster', {
      vpc,
      containerInsightsV2: ecs.ContainerInsights.ENABLED,
      defaultCloudMapNamespace: { name: NAMESPACE },
    });
    const alb = new elbv2.ApplicationLoadBalancer(this, 'Alb', { vpc, internetFacing: true, dropInvalidHeaderFields: true });
    alb.logAccessLogs(logBucket, 'alb');
    const cdn = variantsCdn(this, this.storage.variants, props.domainName, logBucket);
    const publicURL = `https://${cdn.distributionDomainName}`;

    const image = props.image ?? ecs.ContainerImage.fromAsset(path.join(__dirname, '..', '..', '..'), {
      // The build context is the repository; this directory's packages and output are not part of it.
      exclude: ['deploy/aws/node_modules', 'deploy/aws/cdk.out', '.git', 'bin', 'data'],
    });
    const stores: Record<string, string> = {
      IMAGEPIPE_ORIGINALS: `s3://${this.storage.originals.bucketName}`,
      IMAGEPIPE_VARIANTS: `s3://${this.storage.variants.bucketName}`,
      IMAGEPIPE_QUEUE: `sqs://${this.storage.jobs.queueName}`,
      IMAGEPIPE_STATUS: this.storage.statusURL,
      IMAGEPIPE_EVENTS: `sqs://${this.storage.events.queueName}`,
      IMAGEPIPE_PUBLIC_URL: publicURL,
      IMAGEPIPE_OPS_ADDR: `:${OPS_PORT}`,
      IMAGEPIPE_LOG_LEVEL: 'info',
      AWS_REGION: this.region,
      OTEL_TRACES_EXPORTER: 'none',
    };
    if (props.webhookUrls?.length) stores.IMAGEPIPE_WEBHOOKS_URLS = props.webhookUrls.join(',');
    const targetEnv: Record<Target, Record<string, string>> = {
      ingest: { IMAGEPIPE_GRPC_ADDR: `:${GRPC_PORT}` },
      processor: {
        IMAGEPIPE_GRPC_ADDR: `:${GRPC_PORT}`,
        IMAGEPIPE_PROCESSOR_WORKERS: String(workers),
        IMAGEPIPE_PROCESSOR_MAX_ATTEMPTS: String(maxAttempts),
        IMAGEPIPE_PROCESSOR_VISIBILITY: goDuration(visibility),
      },
      status: { IMAGEPIPE_GRPC_ADDR: `:${GRPC_PORT}` },
      gateway: {
        IMAGEPIPE_HTTP_ADDR: `:${HTTP_PORT}`,
        IMAGEPIPE_GATEWAY_INGEST_ADDR: `ingest.${NAMESPACE}:${GRPC_PORT}`,
        IMAGEPIPE_GATEWAY_STATUS_ADDR: `status.${NAMESPACE}:${GRPC_PORT}`,
        IMAGEPIPE_GATEWAY_PROCESSOR_ADDR: `processor.${NAMESPACE}:${GRPC_PORT}`,
      },
    };

    const services = {} as Record<Target, ecs.FargateService>;
    for (const target of TARGETS) {
      const taskSecrets: Record<string, ecs.Secret> = {
        IMAGEPIPE_URL_SIGNING_KEYS: ecs.Secret.fromSecretsManager(secrets.urlSigning),
      };
      if (target !== 'gateway') taskSecrets.IMAGEPIPE_ADMIN_KEY = ecs.Secret.fromSecretsManager(secrets.admin);
      if (target !== 'gateway' && props.webhookUrls?.length) {
        taskSecrets.IMAGEPIPE_WEBHOOKS_SECRETS = ecs.Secret.fromSecretsManager(secrets.webhooks);
      }
      services[target] = newService(this, cluster, target, {
        image, size: sizes[target],
        environment: { IMAGEPIPE_TARGET: target, ...stores, OTEL_SERVICE_NAME: `imagepipe-${target}`, ...targetEnv[target] },
        secrets: taskSecrets,
      });
      grantTarget(target, services[target].taskDefinition.taskRole, this.storage);
    }
    this.services = services;
    for (const target of ['ingest', 'processor', 'status'] as const) {
      services[target].connections.allowFrom(services.gateway, ec2.Port.tcp(GRPC_PORT), 'gateway to gRPC');
    }

    const listener = albListeners(this, alb, props.certificateArn);
    routeTargets(this, listener, services);
    services.gateway.connections.allowFrom(alb, ec2.Port.tcp(OPS_PORT), 'load balancer health checks');
    scaleProcessor(this, cluster, services.processor, this.storage, workers, sizes.processor.count, props.processorMaxTasks ?? 20);
    newAlarms(this, this.storage, alb, props);
    suppressStackWide(this);
  }
}

/** The bucket of server access logs, CloudFront's and the load balancer's logs. */
function accessLogBucket(scope: Construct): s3.Bucket {
  const b = new s3.Bucket(scope, 'Logs', {
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    encryption: s3.BucketEncryption.S3_MANAGED,
    enforceSSL: true,
    // CloudFront standard logs are written with ACLs.
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
    lifecycleRules: [{ expiration: Duration.days(90) }],
    removalPolicy: RemovalPolicy.RETAIN,
  });
  NagSuppressions.addResourceSuppressions(b, [{ id: 'AwsSolutions-S1', reason: 'This is the access-log bucket itself; logging it to itself would loop.' }]);
  return b;
}

interface Secrets {
  readonly admin: secretsmanager.Secret;
  readonly urlSigning: secretsmanager.Secret;
  readonly webhooks: secretsmanager.Secret;
}

/**
 * The three secrets, generated at creation: the operator's API key (48
 * characters; at least 32 are needed), the URL-signing key (43 characters of
 * A-Z a-z 0-9: base64url of 32 bytes) and the global webhooks' secrets,
 * which must be replaced by `whsec_` + standard base64 before webhook URLs
 * are configured (Secrets Manager cannot generate that form).
 */
function newSecrets(scope: Construct): Secrets {
  const gen = (id: string, description: string, length: number) => {
    const s = new secretsmanager.Secret(scope, id, {
      description,
      generateSecretString: { passwordLength: length, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.RETAIN,
    });
    NagSuppressions.addResourceSuppressions(s, [{
      id: 'AwsSolutions-SMG4',
      reason: 'Rotation is an operator step, not a Lambda: a new URL-signing key is listed first with the old one second while links signed with it live, and a new admin key is created through the API before the old is revoked (DEPLOYMENT.md).',
    }]);
    return s;
  };
  return {
    admin: gen('AdminKey', 'imagepipe IMAGEPIPE_ADMIN_KEY: the operator API key (tenant default, scope admin)', 48),
    urlSigning: gen('UrlSigningKeys', 'imagepipe IMAGEPIPE_URL_SIGNING_KEYS: comma-separated base64url keys, newest first', 43),
    webhooks: gen('WebhookSecrets', 'imagepipe IMAGEPIPE_WEBHOOKS_SECRETS: comma-separated whsec_ secrets of the global webhook URLs; put whsec_ + base64 of 32 bytes here', 43),
  };
}

interface ServiceProps {
  readonly image: ecs.ContainerImage;
  readonly size: TaskSize;
  readonly environment: Record<string, string>;
  readonly secrets: Record<string, ecs.Secret>;
}

/**
 * One target's Fargate service: non-root (the image's user), read-only root
 * file system, logs to CloudWatch, a container health check on the ops
 * listener's /healthz, registered in Cloud Map as <target>.imagepipe.internal.
 */
function newService(scope: Construct, cluster: ecs.Cluster, target: Target, p: ServiceProps): ecs.FargateService {
  const task = new ecs.FargateTaskDefinition(scope, `${cap(target)}Task`, {
    cpu: p.size.cpu,
    memoryLimitMiB: p.size.memoryMiB,
    runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
  });
  task.addVolume({ name: 'tmp' });
  const container = task.addContainer('imagepipe', {
    image: p.image,
    environment: p.environment,
    secrets: p.secrets,
    readonlyRootFilesystem: true,
    logging: ecs.LogDrivers.awsLogs({
      streamPrefix: target,
      logGroup: new logs.LogGroup(scope, `${cap(target)}Logs`, { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
    }),
    portMappings: [
      { containerPort: target === 'gateway' ? HTTP_PORT : GRPC_PORT, name: target },
      { containerPort: OPS_PORT, name: `${target}-ops` },
    ],
    healthCheck: {
      command: ['CMD', '/usr/local/bin/imagepipe', 'health', '-http', `http://localhost:${OPS_PORT}`],
      interval: Duration.seconds(10),
      timeout: Duration.seconds(5),
      retries: 3,
      startPeriod: Duration.seconds(20),
    },
  });
  NagSuppressions.addResourceSuppressions(task.obtainExecutionRole(), [{
    id: 'AwsSolutions-IAM5',
    reason: 'The execution role\'s ecr:GetAuthorizationToken has no resource to name (the CDK grants it on *).',
    appliesTo: ['Resource::*'],
  }], true);
  // libvips and large uploads spill to temporary files.
  container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });
  return new ecs.FargateService(scope, `${cap(target)}Service`, {
    cluster,
    taskDefinition: task,
    desiredCount: p.size.count,
    minHealthyPercent: 100,
    circuitBreaker: { rollback: true },
    cloudMapOptions: { name: target },
  });
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** The HTTPS listener (TLS 1.2+; gRPC needs it) and a port-80 listener redirecting to it. */
function albListeners(scope: Construct, alb: elbv2.ApplicationLoadBalancer, certificateArn: string): elbv2.ApplicationListener {
  alb.addRedirect({ sourcePort: 80, targetPort: 443 });
  return alb.addListener('Https', {
    port: 443,
    certificates: [acm.Certificate.fromCertificateArn(scope, 'Certificate', certificateArn)],
    sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS,
  });
}

/**
 * REST goes to the gateway, each gRPC service's paths to its target through
 * an HTTP/2 (gRPC) target group. Health checks are liveness, because ECS
 * replaces a task its load balancer finds unhealthy: the gateway's on the
 * ops listener's /healthz (its /readyz asks every peer, so a peer's outage
 * would restart every gateway), the gRPC targets' the standard
 * grpc.health.v1 service for the whole server ("" stays SERVING until
 * shutdown; a saturated service, e.g. the processor over its backlog, is
 * reported under its own name, which the gateway's /readyz reads).
 */
function routeTargets(scope: Construct, listener: elbv2.ApplicationListener, services: Record<Target, ecs.FargateService>) {
  // Without conditions these targets are the listener's default: every
  // path the gRPC rules leave (REST, /a/, /healthz, /readyz).
  listener.addTargets('Gateway', {
    port: HTTP_PORT,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targets: [services.gateway.loadBalancerTarget({ containerName: 'imagepipe', containerPort: HTTP_PORT })],
    healthCheck: { path: '/healthz', port: String(OPS_PORT), healthyHttpCodes: '200', interval: Duration.seconds(15) },
    deregistrationDelay: Duration.seconds(30),
  });
  let priority = 10;
  for (const [target, names] of Object.entries(GRPC_SERVICES) as [Exclude<Target, 'gateway'>, string[]][]) {
    const group = new elbv2.ApplicationTargetGroup(scope, `${cap(target)}Grpc`, {
      vpc: services[target].cluster.vpc,
      port: GRPC_PORT,
      protocol: elbv2.ApplicationProtocol.HTTP,
      protocolVersion: elbv2.ApplicationProtocolVersion.GRPC,
      targets: [services[target].loadBalancerTarget({ containerName: 'imagepipe', containerPort: GRPC_PORT })],
      healthCheck: { path: '/grpc.health.v1.Health/Check', healthyGrpcCodes: '0', interval: Duration.seconds(15) },
      deregistrationDelay: Duration.seconds(30),
    });
    listener.addTargetGroups(`${cap(target)}Route`, {
      priority: priority++,
      conditions: [elbv2.ListenerCondition.pathPatterns(names.map((n) => `/imagepipe.v1.${n}/*`))],
      targetGroups: [group],
    });
  }
}

/**
 * CloudFront in front of the variants bucket (Origin Access Control, no
 * public bucket). A viewer-request function maps /a/ID/VARIANT to the
 * object ID/VARIANT, refuses every key under private/ and sends signed
 * links (with sig) to the gateway, which checks the signature and serves
 * private variants with Cache-Control: private.
 */
function variantsCdn(scope: Construct, variants: s3.IBucket, apiDomain: string, logs: s3.IBucket): cloudfront.Distribution {
  const route = new cloudfront.Function(scope, 'CdnRoute', {
    runtime: cloudfront.FunctionRuntime.JS_2_0,
    code: cloudfront.FunctionCode.fromInline(CDN_ROUTE),
    comment: 'imagepipe: /a/ID/VARIANT to the variants bucket, private/ refused, signed links to the gateway',
  });
  const viewer = [{ function: route, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }];
  const signedKey = new cloudfront.CachePolicy(scope, 'CdnCache', {
    comment: 'variants: immutable; a signed link is its own cache key (the gateway answers private)',
    queryStringBehavior: cloudfront.CacheQueryStringBehavior.allowList('exp', 'sig'),
    defaultTtl: Duration.days(365),
    maxTtl: Duration.days(365),
    minTtl: Duration.seconds(0),
    enableAcceptEncodingGzip: false,
    enableAcceptEncodingBrotli: false,
  });
  const bucket = origins.S3BucketOrigin.withOriginAccessControl(variants, { originId: 'variants' });
  const gateway = new origins.HttpOrigin(apiDomain, { originId: 'gateway', protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY });
  const dist = new cloudfront.Distribution(scope, 'Cdn', {
    comment: 'imagepipe variants',
    defaultBehavior: { origin: bucket, viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS, cachePolicy: signedKey, functionAssociations: viewer },
    additionalBehaviors: {
      '/a/*': {
        origin: gateway,
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: signedKey,
        allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        functionAssociations: viewer,
      },
    },
    enableLogging: true,
    logBucket: logs,
    logFilePrefix: 'cdn/',
  });
  NagSuppressions.addResourceSuppressions(dist, [
    { id: 'AwsSolutions-CFR1', reason: 'Variants are public images; no geo restriction is wanted by default.' },
    { id: 'AwsSolutions-CFR2', reason: 'WAF is an account-level choice (a web ACL in us-east-1); the CDN serves immutable images only, the gateway limits rates per tenant.' },
    { id: 'AwsSolutions-CFR4', reason: 'The default *.cloudfront.net certificate allows TLSv1 at the viewer; set a custom domain and certificate to raise it (minimumProtocolVersion is TLS 1.2 then).' },
  ]);
  return dist;
}

/**
 * CDN_ROUTE is the viewer-request function (CloudFront Functions, runtime
 * 2.0). The /a/* behaviour's origin is the gateway: a request without sig
 * is switched to the bucket, its URI mapped to the object key; every other
 * path is the bucket's. private/ keys are never served from the bucket.
 */
export const CDN_ROUTE = `import cf from 'cloudfront';
function handler(event) {
  var r = event.request;
  var signed = r.uri.startsWith('/a/') && r.querystring.sig !== undefined;
  if (signed) return r;
  var key = r.uri.startsWith('/a/') ? r.uri.substring(3) : r.uri.substring(1);
  var plain;
  try { plain = decodeURIComponent(key); } catch (e) { plain = ''; }
  if (plain === '' || plain.startsWith('private/')) {
    return { statusCode: 403, statusDescription: 'Forbidden' };
  }
  if (r.uri.startsWith('/a/')) cf.selectRequestOriginById('variants');
  r.uri = '/' + key;
  return r;
}
`;

/**
 * Processor autoscaling on backlog per task: the job queue's visible
 * messages divided by the running tasks (metric math), tracked at one job
 * waiting per worker; the gauge of queue age is the alarms'.
 */
function scaleProcessor(scope: Construct, cluster: ecs.Cluster, service: ecs.FargateService, storage: Storage,
  workers: number, minTasks: number, maxTasks: number) {
  const target = new appscaling.ScalableTarget(scope, 'ProcessorScaling', {
    serviceNamespace: appscaling.ServiceNamespace.ECS,
    resourceId: `service/${cluster.clusterName}/${service.serviceName}`,
    scalableDimension: 'ecs:service:DesiredCount',
    minCapacity: minTasks,
    maxCapacity: Math.max(minTasks, maxTasks),
  });
  new appscaling.CfnScalingPolicy(scope, 'ProcessorBacklogPerTask', {
    policyName: 'imagepipe-processor-backlog-per-task',
    policyType: 'TargetTrackingScaling',
    scalingTargetId: target.scalableTargetId,
    targetTrackingScalingPolicyConfiguration: {
      targetValue: workers,
      scaleOutCooldown: 60,
      scaleInCooldown: 300,
      customizedMetricSpecification: {
        metrics: [
          {
            id: 'visible', returnData: false,
            metricStat: {
              metric: { namespace: 'AWS/SQS', metricName: 'ApproximateNumberOfMessagesVisible', dimensions: [{ name: 'QueueName', value: storage.jobs.queueName }] },
              stat: 'Sum',
            },
          },
          {
            id: 'tasks', returnData: false,
            metricStat: {
              metric: {
                namespace: 'ECS/ContainerInsights', metricName: 'RunningTaskCount',
                dimensions: [{ name: 'ClusterName', value: cluster.clusterName }, { name: 'ServiceName', value: service.serviceName }],
              },
              stat: 'Average',
            },
          },
          { id: 'backlog_per_task', label: 'jobs waiting per processor task', expression: 'visible / tasks', returnData: true },
        ],
      },
    },
  });
}

/**
 * Alarms, told to an SNS topic: a message in the dead-letter queue, the
 * oldest job waiting too long, and the load balancer's 5xx answers above
 * 1% of requests over five minutes.
 */
function newAlarms(scope: Construct, storage: Storage, alb: elbv2.ApplicationLoadBalancer, props: ImagepipeStackProps) {
  const topic = new sns.Topic(scope, 'Alarms', { displayName: 'imagepipe alarms', enforceSSL: true });
  NagSuppressions.addResourceSuppressions(topic, [{
    id: 'AwsSolutions-SNS2',
    reason: 'CloudWatch alarms cannot publish to a topic encrypted with the AWS managed key (aws/sns), and the topic carries alarm names only.',
  }]);
  if (props.alarmEmail) topic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
  const action = new cwactions.SnsAction(topic);
  const alarms = [
    new cloudwatch.Alarm(scope, 'DeadLettersNotEmpty', {
      alarmDescription: 'Jobs reached the dead-letter queue: their images are FAILED (AdminService lists and redrives them).',
      metric: storage.deadLetters.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    new cloudwatch.Alarm(scope, 'OldestJobAge', {
      alarmDescription: 'The oldest job has waited too long: processors are too few or failing.',
      metric: storage.jobs.metricApproximateAgeOfOldestMessage({ period: Duration.minutes(1), statistic: 'Maximum' }),
      threshold: props.oldestJobAlarmSeconds ?? 300,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
    new cloudwatch.Alarm(scope, 'Http5xxRatio', {
      alarmDescription: 'More than 1% of requests answered 5xx (targets and load balancer) over five minutes.',
      metric: new cloudwatch.MathExpression({
        label: '5xx ratio',
        expression: '(FILL(t5xx, 0) + FILL(e5xx, 0)) / requests',
        usingMetrics: {
          t5xx: alb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { statistic: 'Sum' }),
          e5xx: alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { statistic: 'Sum' }),
          requests: alb.metrics.requestCount({ statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
      }),
      threshold: 0.01,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }),
  ];
  for (const a of alarms) a.addAlarmAction(action);
}

/** Suppressions that apply to resources the CDK generates. */
function suppressStackWide(stack: Stack) {
  NagSuppressions.addStackSuppressions(stack, [
    {
      id: 'AwsSolutions-ECS2',
      reason: 'Environment variables carry settings and resource names only; the keys come from Secrets Manager as container secrets.',
    },
    {
      id: 'AwsSolutions-IAM4',
      reason: 'Only the CDK-generated handler of the S3 bucket notification uses the AWS managed AWSLambdaBasicExecutionRole.',
      appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason: 'Object-level S3 permissions name the objects of one bucket, which are created at run time (DEPLOYMENT.md\'s IAM table).',
      appliesTo: [{ regex: '/^Resource::<Stores(Originals|Variants)[0-9A-F]{8}\\.Arn>\\/\\*$/g' }],
    },
    {
      id: 'AwsSolutions-EC23',
      reason: 'The load balancer is the public entry point of the REST and gRPC APIs (ports 80, redirected, and 443).',
    },
  ]);
}
