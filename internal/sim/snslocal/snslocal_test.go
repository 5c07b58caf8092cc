package snslocal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/redisha/redisha/internal/sim/awsquery"
	"github.com/redisha/redisha/internal/sim/snslocal"
)

func TestPublishThroughTheSDK(t *testing.T) {
	s := snslocal.New()
	t.Cleanup(s.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.FailNext(awsquery.Throttled)
	c := snslocal.NewClient(s.URL(), "us-west-2", 2)
	out, err := c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-west-2:1:pages"),
		Subject: aws.String("redisha: <promoted> & more"), Message: aws.String("line 1\nline 2 & <3>")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.MessageId) != "msg-1" {
		t.Fatalf("message id %q", aws.ToString(out.MessageId))
	}
	m, err := s.WaitFor(1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m[0].Subject != "redisha: <promoted> & more" || m[0].Message != "line 1\nline 2 & <3>" || m[0].Region != "us-west-2" {
		t.Fatalf("message %+v", m[0])
	}
	_, err = c.Publish(ctx, &sns.PublishInput{TopicArn: aws.String("arn:aws:sns:us-west-2:1:pages"), Message: aws.String("x"),
		Subject: aws.String(string(make([]byte, 101)))})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "InvalidParameter" {
		t.Fatalf("long subject: %v", err)
	}
}
