package stacks

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// newPeering peers this region's VPC (the requester) with the other
// region's (PeerVpcId in PeerRegion) and routes the other VPC's range
// through it. Same account: "the peering request is accepted without a
// peering role". It returns the peering's id, for the routes back.
func newPeering(scope constructs.Construct, n *network, peerVpcID *string, peerRegion, peerCidr string) *string {
	pcx := awsec2.NewCfnVPCPeeringConnection(scope, jsii.String("Peering"), &awsec2.CfnVPCPeeringConnectionProps{
		VpcId:      n.vpc.VpcId(),
		PeerVpcId:  peerVpcID,
		PeerRegion: jsii.String(peerRegion),
		Tags:       &[]*awscdk.CfnTag{{Key: jsii.String("Name"), Value: jsii.String("redisha cross-region")}},
	})
	routeTo(scope, "ToPeer", n.routeTables, peerCidr, pcx.Ref())
	return pcx.Ref()
}

// routeTo routes cidr through the peering in each route table.
func routeTo(scope constructs.Construct, prefix string, tables []*string, cidr string, peering *string) {
	for i, rt := range tables {
		awsec2.NewCfnRoute(scope, jsii.String(fmt.Sprintf("%s%d", prefix, i+1)), &awsec2.CfnRouteProps{
			RouteTableId:           rt,
			DestinationCidrBlock:   jsii.String(cidr),
			VpcPeeringConnectionId: peering,
		})
	}
}
