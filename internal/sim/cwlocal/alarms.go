package cwlocal

import (
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// DescribeAlarmsPath is where the SDK posts DescribeAlarms.
const DescribeAlarmsPath = "/service/GraniteServiceVersion20100801/operation/DescribeAlarms"

// AlarmSource answers an alarm's state by name ("OK", "ALARM",
// "INSUFFICIENT_DATA"); ok is false when no such alarm exists. A rehearsal
// plugs its alarm evaluator in here.
type AlarmSource func(name string) (state string, ok bool)

// alarmBook holds the alarms DescribeAlarms reports.
type alarmBook struct {
	mu     sync.Mutex
	states map[string]string
	source AlarmSource
}

// SetAlarmState makes DescribeAlarms report the metric alarm name in state;
// an empty state removes it.
func (s *Server) SetAlarmState(name, state string) {
	s.alarms.mu.Lock()
	defer s.alarms.mu.Unlock()
	if s.alarms.states == nil {
		s.alarms.states = map[string]string{}
	}
	if state == "" {
		delete(s.alarms.states, name)
		return
	}
	s.alarms.states[name] = state
}

// SetAlarmSource makes DescribeAlarms ask src for alarms SetAlarmState does
// not hold; nil removes it.
func (s *Server) SetAlarmSource(src AlarmSource) {
	s.alarms.mu.Lock()
	defer s.alarms.mu.Unlock()
	s.alarms.source = src
}

func (s *Server) alarmState(name string) (string, bool) {
	s.alarms.mu.Lock()
	st, ok := s.alarms.states[name]
	src := s.alarms.source
	s.alarms.mu.Unlock()
	if !ok && src != nil {
		return src(name)
	}
	return st, ok
}

type wireAlarm struct {
	AlarmName                  string    `cbor:"AlarmName"`
	AlarmArn                   string    `cbor:"AlarmArn"`
	StateValue                 string    `cbor:"StateValue"`
	StateUpdatedTimestamp      time.Time `cbor:"StateUpdatedTimestamp"`
	StateTransitionedTimestamp time.Time `cbor:"StateTransitionedTimestamp"`
}

var encMode = func() cbor.EncMode {
	em, err := cbor.EncOptions{Time: cbor.TimeUnixDynamic, TimeTag: cbor.EncTagRequired}.EncMode()
	if err != nil {
		panic("cwlocal: CBOR encoder options: " + err.Error())
	}
	return em
}()

// describeAlarms answers DescribeAlarms for the names asked (AlarmNames) or
// every alarm held; failures queued with FailNext apply here too.
func (s *Server) describeAlarms(w http.ResponseWriter, r *http.Request) {
	body, ok := s.requestBody(w, r, DescribeAlarmsPath)
	if !ok {
		return
	}
	var in struct {
		AlarmNames []string `cbor:"AlarmNames"`
	}
	if len(body) > 0 {
		if err := cbor.Unmarshal(body, &in); err != nil {
			s.reject(w, "InvalidParameterValue", err)
			return
		}
	}
	if s.failInjected(w) {
		return
	}

	names := in.AlarmNames
	if len(names) == 0 {
		s.alarms.mu.Lock()
		for n := range s.alarms.states {
			names = append(names, n)
		}
		s.alarms.mu.Unlock()
		slices.Sort(names)
	}
	alarms := []wireAlarm{}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, n := range names {
		if st, ok := s.alarmState(n); ok {
			alarms = append(alarms, wireAlarm{AlarmName: n, AlarmArn: "arn:aws:cloudwatch:" + Region + ":123456789012:alarm:" + n,
				StateValue: st, StateUpdatedTimestamp: now, StateTransitionedTimestamp: now})
		}
	}
	out, err := encMode.Marshal(map[string]any{"MetricAlarms": alarms, "CompositeAlarms": []any{}})
	if err != nil {
		writeError(w, InternalError, err.Error())
		return
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	_, _ = w.Write(out)
}
