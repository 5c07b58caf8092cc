package stacks

import (
	"fmt"
	"net/netip"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// network is one region's VPC, its private subnets and the two security
// groups: the cache's, reachable on the port only from the checker's (and
// the application CIDRs given).
type network struct {
	vpc     awsec2.IVpc
	subnets *[]*string
	cacheSG awsec2.ISecurityGroup
	checkSG awsec2.SecurityGroup
	// promoterSG is the promoter's: the cache's port, the API endpoints,
	// and HTTPS where the route tables lead (DynamoDB's gateway endpoint;
	// the other region's CloudWatch through a NAT, when there is one).
	promoterSG awsec2.SecurityGroup
	appSG      awsec2.SecurityGroup // attach to application clients of the cache; nil for an adopted cache
	// routeTables of the subnets, when the app created the VPC (to route
	// to the other region's VPC through the peering).
	routeTables []*string
}

// NetworkProps shape a region's network.
type NetworkProps struct {
	VpcID      string   // import this VPC; empty creates a minimal private one
	SubnetIDs  []string // private subnets of VpcID
	AZs        []string // zones of the new VPC
	Cidr       string   // address range of the new VPC
	RemoteCidr string   // the other region's VPC range: its clients reach this cache, this region's clients reach its cache
	CacheSGID  string   // an adopted cache's security group: the checker is let in, nothing else is created
	Port       int
	AppCidrs   []string // extra sources allowed to reach the port
	APIMetrics bool     // the checker calls PutMetricData (METRICS_MODE=api)
	Endpoints  bool     // create the interface endpoints the checker needs
	// Nat adds an internet gateway, a public subnet and one NAT gateway to
	// the VPC the app creates, and a default route through it from the
	// cache subnets: the promoter's path to the other region's CloudWatch.
	Nat bool
}

func newNetwork(scope constructs.Construct, p NetworkProps) *network {
	n := &network{}
	if p.VpcID != "" {
		n.vpc = awsec2.Vpc_FromVpcAttributes(scope, jsii.String("Vpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(p.VpcID),
			AvailabilityZones: jsii.Strings(p.AZs...),
			PrivateSubnetIds:  jsii.Strings(p.SubnetIDs...),
		})
		n.subnets = jsii.Strings(p.SubnetIDs...)
	} else {
		// A minimal VPC: isolated subnets only (no NAT, no internet), flow
		// logs on. The checker needs no internet: EMF metrics go through
		// Lambda's own log delivery.
		vpc := awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
			IpAddresses:       awsec2.IpAddresses_Cidr(jsii.String(p.Cidr)),
			AvailabilityZones: jsii.Strings(p.AZs...),
			NatGateways:       jsii.Number(0),
			SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
				Name: jsii.String("cache"), SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED, CidrMask: jsii.Number(24),
			}},
			RestrictDefaultSecurityGroup: jsii.Bool(false),
			EnableDnsHostnames:           jsii.Bool(true),
			EnableDnsSupport:             jsii.Bool(true),
		})
		logs := awslogs.NewLogGroup(scope, jsii.String("FlowLogs"), &awslogs.LogGroupProps{
			Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
		})
		stack := awscdk.Stack_Of(scope)
		vpc.AddFlowLog(jsii.String("FlowLog"), &awsec2.FlowLogOptions{
			Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(logs, serviceRole(scope, "FlowLogRole", "vpc-flow-logs.amazonaws.com",
				"arn:"+*awscdk.Aws_PARTITION()+":ec2:"+*stack.Region()+":"+*stack.Account()+":vpc-flow-log/*")),
		})
		n.vpc = vpc
		var ids []*string
		for _, s := range *vpc.IsolatedSubnets() {
			ids = append(ids, s.SubnetId())
			n.routeTables = append(n.routeTables, s.RouteTable().RouteTableId())
		}
		n.subnets = &ids
		if p.Nat {
			n.addNat(scope, p)
		}
	}
	n.checkSG = awsec2.NewSecurityGroup(scope, jsii.String("CheckerSG"), &awsec2.SecurityGroupProps{
		Vpc: n.vpc, Description: jsii.String("redisha health checker"), AllowAllOutbound: jsii.Bool(false),
	})
	n.promoterSG = awsec2.NewSecurityGroup(scope, jsii.String("PromoterSG"), &awsec2.SecurityGroupProps{
		Vpc: n.vpc, Description: jsii.String("redisha promoter"), AllowAllOutbound: jsii.Bool(false),
	})
	port := awsec2.Port_Tcp(jsii.Number(float64(p.Port)))
	if p.CacheSGID != "" {
		// An adopted cache: its security group gains the checker's rule; its
		// clients are its owner's business.
		n.cacheSG = awsec2.SecurityGroup_FromSecurityGroupId(scope, jsii.String("CacheSG"), jsii.String(p.CacheSGID),
			&awsec2.SecurityGroupImportOptions{AllowAllOutbound: jsii.Bool(false), Mutable: jsii.Bool(true)})
		n.cacheSG.AddIngressRule(n.checkSG, port, jsii.String("redisha health checker"), nil)
		n.checkSG.AddEgressRule(n.cacheSG, port, jsii.String("to the cache"), nil)
		n.cacheSG.AddIngressRule(n.promoterSG, port, jsii.String("redisha promoter"), nil)
		n.promoterSG.AddEgressRule(n.cacheSG, port, jsii.String("to the cache"), nil)
	} else {
		n.cacheSG = awsec2.NewSecurityGroup(scope, jsii.String("CacheSG"), &awsec2.SecurityGroupProps{
			Vpc: n.vpc, Description: jsii.String("ElastiCache: the Redis port from the checker and app clients only"),
			AllowAllOutbound: jsii.Bool(false),
		})
		n.cacheSG.AddIngressRule(n.checkSG, port, jsii.String("health checker"), nil)
		n.checkSG.AddEgressRule(n.cacheSG, port, jsii.String("to the cache"), nil)
		n.cacheSG.AddIngressRule(n.promoterSG, port, jsii.String("promoter"), nil)
		n.promoterSG.AddEgressRule(n.cacheSG, port, jsii.String("to the cache"), nil)
		// Applications reach the cache by wearing this group (EKS pods through
		// security groups for pods, instances, functions), or from appClientCidrs.
		n.appSG = awsec2.NewSecurityGroup(scope, jsii.String("AppClientSG"), &awsec2.SecurityGroupProps{
			Vpc: n.vpc, Description: jsii.String("redisha: attach to application clients of the cache"), AllowAllOutbound: jsii.Bool(false),
		})
		n.cacheSG.AddIngressRule(n.appSG, port, jsii.String("application clients"), nil)
		n.appSG.AddEgressRule(n.cacheSG, port, jsii.String("to the cache"), nil)
		for _, c := range p.AppCidrs {
			n.cacheSG.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(c)), port, jsii.String("application clients "+c), nil)
		}
	}
	if p.RemoteCidr != "" && p.CacheSGID == "" {
		// Across regions security groups cannot name each other: the other
		// region's clients are admitted by address, and this region's app
		// clients may reach the other region's cache (the failover name
		// leads there) by address.
		n.cacheSG.AddIngressRule(awsec2.Peer_Ipv4(jsii.String(p.RemoteCidr)), port, jsii.String("clients in the other region's VPC "+p.RemoteCidr), nil)
		n.appSG.AddEgressRule(awsec2.Peer_Ipv4(jsii.String(p.RemoteCidr)), port, jsii.String("to the other region's cache"), nil)
	}
	if !p.Endpoints {
		// The VPC already reaches Secrets Manager (and CloudWatch) through
		// its own endpoints or a NAT: HTTPS out is all the checker needs.
		n.checkSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("AWS APIs through the VPC's endpoints or NAT"), nil)
		n.promoterSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("AWS APIs through the VPC's endpoints or NAT"), nil)
		return n
	}
	if p.APIMetrics {
		// PutMetricData from a VPC without NAT needs this endpoint.
		n.interfaceEndpoint(scope, "Monitoring", awsec2.InterfaceVpcEndpointAwsService_CLOUDWATCH_MONITORING(),
			"CloudWatch monitoring endpoint", "checker PutMetricData", "to CloudWatch", n.checkSG)
	}
	// Secrets Manager from inside the VPC, for the AUTH token.
	n.interfaceEndpoint(scope, "Secrets", awsec2.InterfaceVpcEndpointAwsService_SECRETS_MANAGER(),
		"Secrets Manager endpoint", "checker and promoter GetSecretValue", "to Secrets Manager", n.checkSG, n.promoterSG)
	// The local ElastiCache API: the checker's fence reads the datastore's
	// primary, the promoter describes and fails over. The promoter's pages
	// and its latch table follow.
	n.interfaceEndpoint(scope, "ElastiCache", awsec2.InterfaceVpcEndpointAwsService_ELASTICACHE(),
		"ElastiCache API endpoint", "checker fence and promoter describe and failover calls", "to the ElastiCache API", n.checkSG, n.promoterSG)
	n.interfaceEndpoint(scope, "Sns", awsec2.InterfaceVpcEndpointAwsService_SNS(),
		"SNS endpoint", "promoter pages", "to SNS", n.promoterSG)
	if len(n.routeTables) > 0 {
		tables := make([]interface{}, len(n.routeTables))
		for i, t := range n.routeTables {
			tables[i] = t
		}
		// Only in the VPC the app creates: an imported VPC's route tables
		// are not known here; its owner provides DynamoDB (docs/infra.md).
		// Its policy: tables of this account only (it carries every workload's
		// DynamoDB traffic in the VPC, so it is not limited to the latch).
		awsec2.NewCfnVPCEndpoint(scope, jsii.String("DynamoDBEndpoint"), &awsec2.CfnVPCEndpointProps{
			VpcId: n.vpc.VpcId(), VpcEndpointType: jsii.String("Gateway"),
			ServiceName:   jsii.String("com.amazonaws." + *awscdk.Stack_Of(scope).Region() + ".dynamodb"),
			RouteTableIds: &tables,
			PolicyDocument: map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
				"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*",
				"Condition": map[string]any{"StringEquals": map[string]any{"aws:ResourceAccount": awscdk.Stack_Of(scope).Account()}},
			}}},
		})
	}
	// DynamoDB's addresses are a managed prefix list whose id differs per
	// region and takes a lookup; HTTPS out leads only where the route
	// tables lead (the VPC the app creates has no NAT and no internet
	// gateway: its endpoints, and the peering).
	n.promoterSG.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)),
		jsii.String("to DynamoDB through the gateway endpoint, and the AWS APIs the route tables reach"), nil)
	return n
}

// addNat gives the created VPC a way out: an internet gateway, one public
// subnet (the last /24 of the range, clear of the cache subnets CDK
// allocates from the start) holding one NAT gateway, and a default route to
// it from every cache subnet's route table. The cache subnets keep their
// type and ids: a subnet group cannot change its subnets in place. One NAT,
// in one zone: losing that zone makes this region's promoter blind to the
// other region (it then refuses, it never promotes on it); two cost twice.
func (n *network) addNat(scope constructs.Construct, p NetworkProps) {
	prefix, _ := netip.ParsePrefix(p.Cidr)
	last := prefix.Addr().As4()
	hostBits := 32 - prefix.Bits()
	size := uint32(1) << hostBits
	base := uint32(last[0])<<24 | uint32(last[1])<<16 | uint32(last[2])<<8 | uint32(last[3])
	top := base + size - 256 // the last /24
	cidr := fmt.Sprintf("%d.%d.%d.0/24", byte(top>>24), byte(top>>16), byte(top>>8))
	igw := awsec2.NewCfnInternetGateway(scope, jsii.String("InternetGateway"), &awsec2.CfnInternetGatewayProps{})
	attach := awsec2.NewCfnVPCGatewayAttachment(scope, jsii.String("InternetGatewayAttachment"), &awsec2.CfnVPCGatewayAttachmentProps{
		VpcId: n.vpc.VpcId(), InternetGatewayId: igw.Ref(),
	})
	public := awsec2.NewCfnSubnet(scope, jsii.String("NatSubnet"), &awsec2.CfnSubnetProps{
		VpcId: n.vpc.VpcId(), CidrBlock: jsii.String(cidr), AvailabilityZone: jsii.String(p.AZs[0]),
		MapPublicIpOnLaunch: jsii.Bool(false),
	})
	publicRoutes := awsec2.NewCfnRouteTable(scope, jsii.String("NatSubnetRoutes"), &awsec2.CfnRouteTableProps{VpcId: n.vpc.VpcId()})
	awsec2.NewCfnSubnetRouteTableAssociation(scope, jsii.String("NatSubnetRoutesAssociation"), &awsec2.CfnSubnetRouteTableAssociationProps{
		SubnetId: public.Ref(), RouteTableId: publicRoutes.Ref(),
	})
	toIgw := awsec2.NewCfnRoute(scope, jsii.String("NatSubnetDefaultRoute"), &awsec2.CfnRouteProps{
		RouteTableId: publicRoutes.Ref(), DestinationCidrBlock: jsii.String("0.0.0.0/0"), GatewayId: igw.Ref(),
	})
	toIgw.AddDependency(attach)
	eip := awsec2.NewCfnEIP(scope, jsii.String("NatAddress"), &awsec2.CfnEIPProps{Domain: jsii.String("vpc")})
	nat := awsec2.NewCfnNatGateway(scope, jsii.String("Nat"), &awsec2.CfnNatGatewayProps{
		SubnetId: public.Ref(), AllocationId: eip.AttrAllocationId(),
	})
	nat.AddDependency(toIgw)
	for i, t := range n.routeTables {
		awsec2.NewCfnRoute(scope, jsii.String(fmt.Sprintf("NatRoute%d", i+1)), &awsec2.CfnRouteProps{
			RouteTableId: t, DestinationCidrBlock: jsii.String("0.0.0.0/0"), NatGatewayId: nat.Ref(),
		})
	}
}

// interfaceEndpoint adds an interface endpoint (<name>Endpoint) in every
// subnet, behind its own security group (<name>EndpointSG) that only the
// given client groups reach on 443.
func (n *network) interfaceEndpoint(scope constructs.Construct, name string, svc awsec2.InterfaceVpcEndpointAwsService, desc, ingress, egress string, clients ...awsec2.SecurityGroup) {
	sg := awsec2.NewSecurityGroup(scope, jsii.String(name+"EndpointSG"), &awsec2.SecurityGroupProps{
		Vpc: n.vpc, Description: jsii.String(desc), AllowAllOutbound: jsii.Bool(false),
	})
	https := awsec2.Port_Tcp(jsii.Number(443))
	for _, c := range clients {
		sg.AddIngressRule(c, https, jsii.String(ingress), nil)
		c.AddEgressRule(sg, https, jsii.String(egress), nil)
	}
	ep := awsec2.NewInterfaceVpcEndpoint(scope, jsii.String(name+"Endpoint"), &awsec2.InterfaceVpcEndpointProps{
		Vpc: n.vpc, Service: svc,
		SecurityGroups: &[]awsec2.ISecurityGroup{sg}, PrivateDnsEnabled: jsii.Bool(true), Open: jsii.Bool(false),
		Subnets: &awsec2.SubnetSelection{Subnets: n.vpc.SelectSubnets(nil).Subnets},
	})
	// An endpoint policy instead of the default Allow * * *: this account's
	// principals, on this account's resources only, so the endpoint is no
	// path to write into another account.
	account := awscdk.Stack_Of(scope).Account()
	ep.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("*"), Resources: jsii.Strings("*"),
		Conditions: &map[string]interface{}{"StringEquals": map[string]*string{
			"aws:PrincipalAccount": account, "aws:ResourceAccount": account}},
	}))
}

// VpcID is the network's VPC (created or imported).
func (n *network) VpcID() *string { return n.vpc.VpcId() }
