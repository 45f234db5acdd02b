import { Annotations, Token } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { VpcConfig } from '../environments.ts';
import { dataRemovalPolicy } from '../removal-policy.ts';
import { manageProviderLogs } from './provider-logs.ts';

export interface NetworkProps {
  readonly vpc: VpcConfig;
  readonly retainData: boolean;
  /** How long the logs of CDK's function that restricts the default security group are kept. */
  readonly logRetention: logs.RetentionDays;
}

const RESTRICT_DEFAULT_SG_PROVIDER_ID = 'Custom::VpcRestrictDefaultSGCustomResourceProvider';

/**
 * A VPC whose private subnets reach the internet only through NAT gateways with Elastic IPs, so every
 * call to Tanium leaves from a known address (for `api_token_trusted_ip_address_list`); S3 and DynamoDB
 * through gateway endpoints.
 */
export class Network extends Construct {
  public readonly vpc: ec2.Vpc;
  public readonly securityGroup: ec2.SecurityGroup;
  /** The public addresses calls to Tanium come from, one per NAT gateway. */
  public readonly egressIps: string[];

  constructor(scope: Construct, id: string, props: NetworkProps) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: props.vpc.maxAzs,
      // The functions use their own group; the default one would let anything placed in it later talk to
      // everything else in it (Security Hub EC2.2). CDK empties it with a custom resource.
      restrictDefaultSecurityGroup: true,
      natGateways: props.vpc.natGateways,
      subnetConfiguration: [
        { name: 'Public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'Private', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
      // Evidence (up to GET_FILE_MAX_BYTES a file) and the state table need no fixed address: gateway
      // endpoints, which cost nothing, keep them off the NAT gateways, which bill every gigabyte.
      gatewayEndpoints: {
        S3: {
          service: ec2.GatewayVpcEndpointAwsService.S3,
          subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
        },
        DynamoDb: {
          service: ec2.GatewayVpcEndpointAwsService.DYNAMODB,
          subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
        },
      },
    });
    // The environment's check compares natGateways with maxAzs; CDK makes no more gateways than the
    // zones it finds (2 for a stack of no known region), and says nothing.
    const zones = this.vpc.availabilityZones;
    if (props.vpc.natGateways > zones.length) {
      const which = zones.some((zone) => Token.isUnresolved(zone))
        ? 'a stack of no known account and region gets 2: declare both'
        : zones.join(', ');
      Annotations.of(this).addWarningV2(
        'tanium:nat-gateways',
        `vpc.natGateways is ${props.vpc.natGateways} but the VPC has ${zones.length} availability zones (${which}): it gets ${zones.length} NAT gateways, so ${zones.length} egress addresses`,
      );
    }
    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.vpc.flowLogRetention,
      removalPolicy: dataRemovalPolicy(props.retainData),
    });
    this.vpc.addFlowLog('FlowLog', { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup) });
    manageProviderLogs(
      this,
      'RestrictDefaultSecurityGroupLogs',
      RESTRICT_DEFAULT_SG_PROVIDER_ID,
      props.logRetention,
    );

    // Outbound only: the functions call Tanium and AWS APIs; nothing connects to them.
    this.securityGroup = new ec2.SecurityGroup(this, 'FunctionsSecurityGroup', {
      vpc: this.vpc,
      description: 'Tanium Threat Response functions (egress only)',
      allowAllOutbound: true,
    });

    this.egressIps = this.vpc.publicSubnets
      .map((subnet) => subnet.node.tryFindChild('EIP'))
      .filter((eip): eip is ec2.CfnEIP => eip instanceof ec2.CfnEIP)
      .map((eip) => eip.attrPublicIp);
  }
}
