// Package latch keeps the promoter's state (epoch, heartbeat history, latch)
// in a DynamoDB table in the promoter's own region, so it survives the loss
// of the other region. Every save is a compare-and-set on the epoch (a
// conditional PutItem), so of two runs that read the same state only one can
// record a decision, and only that one may act.
//
// DynamoDB, not SSM Parameter Store: PutParameter has no condition (it
// overwrites or refuses to), so two concurrent runs could both believe they
// won; a conditional write is atomic and strongly consistent in one region.
// A regional table, not a global table: global tables resolve conflicts by
// last writer wins, which is no latch.
package latch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/redisha/redisha/internal/promoter"
)

// KeyAttribute is the table's partition key (a string).
const KeyAttribute = "pk"

// DynamoDBAPI is the part of the DynamoDB client the store uses.
type DynamoDBAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
}

var _ DynamoDBAPI = (*dynamodb.Client)(nil)

// Store is one promoter's state: one item of a table.
type Store struct {
	api   DynamoDBAPI
	table string
	key   string
}

var _ promoter.StateStore = (*Store)(nil)

// New returns the store of the item keyed key (e.g. the Global Datastore id
// and the region) in table.
func New(api DynamoDBAPI, table, key string) *Store {
	return &Store{api: api, table: table, key: key}
}

// Attribute names of the item.
const (
	attrEpoch      = "epoch"
	attrSeq        = "hb_seq"
	attrWritten    = "hb_written_ms"
	attrAdvanced   = "hb_advanced_ms"
	attrHealthyAt  = "healthy_at_ms"
	attrHealthyAge = "healthy_age_ms"
	attrPrimary    = "primary_region"
	attrPromotedAt = "promoted_at_ms"
	// attrAttemptAt is a decision to promote whose outcome is not yet
	// recorded; absent when none.
	attrAttemptAt = "attempt_at_ms"
	attrAbortedAt = "aborted_at_ms"
	attrNotified  = "notified"
	// attrPeerReadAt is absent from items written before it existed: they
	// load as "never reached", which fails closed.
	attrPeerReadAt  = "peer_alarm_read_at_ms"
	attrPeerWroteAt = "peer_wrote_at_ms"
	// attrWitnessUpAt and attrWitnessDownAt are absent from items written
	// before the witness existed: "never seen", which fails closed.
	attrWitnessUpAt   = "witness_up_at_ms"
	attrWitnessDownAt = "witness_down_at_ms"
	attrClockSuspect  = "clock_suspect_at_ms"
	attrFreshestAge   = "freshest_age_ms"
	attrFreshestAt    = "freshest_at_ms"
	attrLastAction    = "last_action"
	attrLastRefused   = "last_refused"
	attrLastAt        = "last_at_ms"
	attrMode          = "mode"
	attrModeSet       = "mode_override"
	attrModeSetBy     = "mode_set_by"
	attrModeSetAt     = "mode_set_at_ms"
)

// Load reads the state; a missing item is the zero state (epoch 0). The read
// is strongly consistent: a stale read would only lose the compare-and-set,
// but a consistent one does not waste the run.
func (s *Store) Load(ctx context.Context) (promoter.Record, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: s.key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return promoter.Record{}, fmt.Errorf("latch store: read %s from table %s: %w", s.key, s.table, err)
	}
	it := out.Item
	var r promoter.Record
	st := &r.State
	st.Epoch = uint64(num(it, attrEpoch))
	st.HeartbeatSeq = seq(it)
	st.HeartbeatWritten = ms(it, attrWritten)
	st.HeartbeatAdvanced = ms(it, attrAdvanced)
	st.HealthyAt = ms(it, attrHealthyAt)
	st.HealthyAge = time.Duration(num(it, attrHealthyAge)) * time.Millisecond
	st.PrimaryRegion = str(it, attrPrimary)
	st.PromotedAt = ms(it, attrPromotedAt)
	st.AttemptAt = ms(it, attrAttemptAt)
	st.AbortedAt = ms(it, attrAbortedAt)
	st.Notified = str(it, attrNotified)
	st.PeerAlarmReadAt = ms(it, attrPeerReadAt)
	st.PeerWroteAt = ms(it, attrPeerWroteAt)
	st.WitnessUpAt = ms(it, attrWitnessUpAt)
	st.WitnessDownAt = ms(it, attrWitnessDownAt)
	st.ClockSuspectAt = ms(it, attrClockSuspect)
	st.FreshestAge = time.Duration(num(it, attrFreshestAge)) * time.Millisecond
	st.FreshestAt = ms(it, attrFreshestAt)
	r.LastAction = promoter.Action(str(it, attrLastAction))
	r.LastRefused = str(it, attrLastRefused)
	r.LastAt = ms(it, attrLastAt)
	r.Mode = promoter.Mode(str(it, attrMode))
	st.ModeOverride = promoter.Mode(str(it, attrModeSet))
	st.ModeSetBy = str(it, attrModeSetBy)
	st.ModeSetAt = ms(it, attrModeSetAt)
	return r, nil
}

// Save writes r if the stored epoch is still prev (or the item is absent
// and prev is 0); otherwise it returns an error wrapping
// promoter.ErrConflict.
func (s *Store) Save(ctx context.Context, prev uint64, r promoter.Record) error {
	st := r.State
	item := map[string]types.AttributeValue{
		KeyAttribute:    &types.AttributeValueMemberS{Value: s.key},
		attrEpoch:       n(int64(st.Epoch)),
		attrSeq:         &types.AttributeValueMemberN{Value: strconv.FormatUint(st.HeartbeatSeq, 10)},
		attrHealthyAge:  n(st.HealthyAge.Milliseconds()),
		attrFreshestAge: n(st.FreshestAge.Milliseconds()),
		attrLastAction:  &types.AttributeValueMemberS{Value: string(r.LastAction)},
	}
	for name, t := range map[string]time.Time{attrWritten: st.HeartbeatWritten, attrAdvanced: st.HeartbeatAdvanced,
		attrHealthyAt: st.HealthyAt, attrPromotedAt: st.PromotedAt, attrAttemptAt: st.AttemptAt, attrAbortedAt: st.AbortedAt, attrLastAt: r.LastAt, attrPeerReadAt: st.PeerAlarmReadAt,
		attrPeerWroteAt: st.PeerWroteAt, attrModeSetAt: st.ModeSetAt, attrWitnessUpAt: st.WitnessUpAt, attrWitnessDownAt: st.WitnessDownAt,
		attrClockSuspect: st.ClockSuspectAt, attrFreshestAt: st.FreshestAt} {
		if !t.IsZero() {
			item[name] = n(t.UnixMilli())
		}
	}
	for name, v := range map[string]string{attrPrimary: st.PrimaryRegion, attrNotified: st.Notified, attrLastRefused: r.LastRefused,
		attrMode: string(r.Mode), attrModeSet: string(st.ModeOverride), attrModeSetBy: st.ModeSetBy} {
		if v != "" {
			item[name] = &types.AttributeValueMemberS{Value: v}
		}
	}
	in := &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("#e = :prev"),
		ExpressionAttributeNames:  map[string]string{"#e": attrEpoch},
		ExpressionAttributeValues: map[string]types.AttributeValue{":prev": n(int64(prev))},
	}
	if prev == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#e) OR #e = :prev")
	}
	_, err := s.api.PutItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return fmt.Errorf("latch store: epoch %d in table %s is no longer the stored one: %w", prev, s.table, promoter.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("latch store: write %s to table %s: %w", s.key, s.table, err)
	}
	return nil
}

func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

func num(it map[string]types.AttributeValue, name string) int64 {
	if v, ok := it[name].(*types.AttributeValueMemberN); ok {
		x, _ := strconv.ParseInt(v.Value, 10, 64)
		return x
	}
	return 0
}

func seq(it map[string]types.AttributeValue) uint64 {
	if v, ok := it[attrSeq].(*types.AttributeValueMemberN); ok {
		x, _ := strconv.ParseUint(v.Value, 10, 64)
		return x
	}
	return 0
}

func ms(it map[string]types.AttributeValue, name string) time.Time {
	if x := num(it, name); x != 0 {
		return time.UnixMilli(x).UTC()
	}
	return time.Time{}
}

func str(it map[string]types.AttributeValue, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}
