package ddblocal_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/redisha/redisha/internal/sim/ddblocal"
)

func setup(t *testing.T) (*ddblocal.Server, *dynamodb.Client, context.Context) {
	t.Helper()
	s := ddblocal.New()
	t.Cleanup(s.Close)
	s.CreateTable("latch", "pk")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return s, ddblocal.NewClient(s.URL(), "us-west-2", 3), ctx
}

func put(ctx context.Context, c *dynamodb.Client, epoch string, cond string, values map[string]types.AttributeValue) error {
	in := &dynamodb.PutItemInput{
		TableName: aws.String("latch"),
		Item: map[string]types.AttributeValue{
			"pk":    &types.AttributeValueMemberS{Value: "k"},
			"epoch": &types.AttributeValueMemberN{Value: epoch},
			"who":   &types.AttributeValueMemberS{Value: "run-" + epoch},
		},
	}
	if cond != "" {
		in.ConditionExpression = aws.String(cond)
		in.ExpressionAttributeNames = map[string]string{"#e": "epoch"}
		in.ExpressionAttributeValues = values
	}
	_, err := c.PutItem(ctx, in)
	return err
}

func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

func TestConditionalPutIsACompareAndSet(t *testing.T) {
	s, c, ctx := setup(t)
	first := "attribute_not_exists(#e) OR #e = :prev"
	if err := put(ctx, c, "1", first, map[string]types.AttributeValue{":prev": n("0")}); err != nil {
		t.Fatalf("first write: %v", err)
	}
	var failed *types.ConditionalCheckFailedException
	if err := put(ctx, c, "1", first, map[string]types.AttributeValue{":prev": n("0")}); !errors.As(err, &failed) {
		t.Fatalf("second first write: %v, want ConditionalCheckFailedException", err)
	}
	if err := put(ctx, c, "2", "#e = :prev", map[string]types.AttributeValue{":prev": n("1")}); err != nil {
		t.Fatalf("write at epoch 1: %v", err)
	}
	if err := put(ctx, c, "2", "#e = :prev", map[string]types.AttributeValue{":prev": n("1")}); !errors.As(err, &failed) {
		t.Fatalf("stale write at epoch 1: %v", err)
	}
	// Numbers compare as numbers, not strings.
	if err := put(ctx, c, "10", "#e < :next AND NOT (#e >= :next)", map[string]types.AttributeValue{":next": n("10")}); err != nil {
		t.Fatalf("2 < 10: %v", err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("latch"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if e := out.Item["epoch"].(*types.AttributeValueMemberN).Value; e != "10" {
		t.Fatalf("epoch %s, want 10", e)
	}
	if it, ok := s.Item("latch", "k"); !ok || it["who"]["S"] != "run-10" {
		t.Fatalf("stored item %v", it)
	}
	missing, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("latch"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "nope"}}})
	if err != nil || missing.Item != nil {
		t.Fatalf("missing item: %v, %v", missing.Item, err)
	}
}

func TestErrors(t *testing.T) {
	s, c, ctx := setup(t)
	// Throttling is retried by the SDK.
	s.FailNext(ddblocal.Throttled, ddblocal.Throttled)
	if err := put(ctx, c, "1", "", nil); err != nil {
		t.Fatalf("after two throttles: %v", err)
	}
	if calls := s.Calls(); len(calls) != 3 {
		t.Fatalf("calls %v, want 3 PutItem", calls)
	}
	var nf *types.ResourceNotFoundException
	_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("other"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}})
	if !errors.As(err, &nf) {
		t.Fatalf("unknown table: %v", err)
	}
	for _, cond := range []string{"#e = ", "#x = :prev", "#e = :other", "size(#e) > :prev", "#e = :prev AND"} {
		err := put(ctx, c, "2", cond, map[string]types.AttributeValue{":prev": n("1")})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
			t.Errorf("condition %q: %v, want ValidationException", cond, err)
		}
	}
}

// A lost reply: the write is applied and a 500 answered; the SDK's retry of
// the conditional write then finds its own write and fails the condition.
func TestReplyLostAppliesTheWrite(t *testing.T) {
	s, c, ctx := setup(t)
	s.FailNext(ddblocal.ReplyLost)
	err := put(ctx, c, "1", "attribute_not_exists(#e)", nil)
	var cond *types.ConditionalCheckFailedException
	if !errors.As(err, &cond) {
		t.Fatalf("error %v, want the retry's ConditionalCheckFailedException", err)
	}
	out, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("latch"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "k"}}})
	if err != nil || out.Item["who"] == nil {
		t.Fatalf("the write was not applied: %+v, %v", out.Item, err)
	}
}
