package dynamoutil

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

var errNoTable = errors.New("test: table does not exist")

// testSpec has two indexes that share attributes with the key and with each
// other.
var testSpec = TableSpec{
	Name:       "t",
	Driver:     "test",
	ErrNoTable: errNoTable,
	Key:        Attr{Name: "pk", Type: types.ScalarAttributeTypeS},
	Indexes: []Index{
		{Name: "by_a", Hash: Attr{Name: "a", Type: types.ScalarAttributeTypeS}, Range: Attr{Name: "pk", Type: types.ScalarAttributeTypeS}},
		{Name: "by_a_n", Hash: Attr{Name: "a", Type: types.ScalarAttributeTypeS}, Range: Attr{Name: "n", Type: types.ScalarAttributeTypeN}},
	},
	TTLAttr: "exp",
}

// Every key attribute is defined once, with its type, in order of first use.
func TestCreateInputDefinesEachAttributeOnce(t *testing.T) {
	in := testSpec.createInput()
	var got []string
	for _, d := range in.AttributeDefinitions {
		got = append(got, aws.ToString(d.AttributeName)+":"+string(d.AttributeType))
	}
	if want := "pk:S a:S n:N"; strings.Join(got, " ") != want {
		t.Errorf("attribute definitions %v, want %s", got, want)
	}
	if len(in.GlobalSecondaryIndexes) != 2 || in.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("%d indexes, billing %s; want 2, PAY_PER_REQUEST", len(in.GlobalSecondaryIndexes), in.BillingMode)
	}
	// The table it describes passes its own layout check.
	desc := &types.TableDescription{KeySchema: in.KeySchema}
	for _, ix := range in.GlobalSecondaryIndexes {
		desc.GlobalSecondaryIndexes = append(desc.GlobalSecondaryIndexes, types.GlobalSecondaryIndexDescription{
			IndexName: ix.IndexName, KeySchema: ix.KeySchema, Projection: ix.Projection,
		})
	}
	if err := testSpec.checkLayout(desc); err != nil {
		t.Errorf("checkLayout of the table createInput makes = %v", err)
	}
}

func key(name string, kt types.KeyType) types.KeySchemaElement {
	return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: kt}
}

func TestCheckLayout(t *testing.T) {
	hash, rng := types.KeyTypeHash, types.KeyTypeRange
	all := &types.Projection{ProjectionType: types.ProjectionTypeAll}
	byA := types.GlobalSecondaryIndexDescription{IndexName: aws.String("by_a"), KeySchema: []types.KeySchemaElement{key("a", hash), key("pk", rng)}, Projection: all}
	byAN := types.GlobalSecondaryIndexDescription{IndexName: aws.String("by_a_n"), KeySchema: []types.KeySchemaElement{key("a", hash), key("n", rng)}, Projection: all}
	pkOnly := []types.KeySchemaElement{key("pk", hash)}
	for _, tc := range []struct {
		name    string
		desc    types.TableDescription
		wantErr string // "" for none
	}{
		{"right", types.TableDescription{KeySchema: pkOnly, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{byAN, byA}}, ""},
		{"sort key", types.TableDescription{KeySchema: []types.KeySchemaElement{key("pk", hash), key("n", rng)}, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{byA, byAN}}, "key schema is not pk (HASH) alone"},
		{"other key", types.TableDescription{KeySchema: []types.KeySchemaElement{key("id", hash)}, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{byA, byAN}}, "key schema is not pk (HASH) alone"},
		{"no index", types.TableDescription{KeySchema: pkOnly}, "no global secondary index by_a"},
		{"one index missing", types.TableDescription{KeySchema: pkOnly, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{byA}}, "no global secondary index by_a_n"},
		{"index keys swapped", types.TableDescription{KeySchema: pkOnly, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
			{IndexName: aws.String("by_a"), KeySchema: []types.KeySchemaElement{key("pk", hash), key("a", rng)}, Projection: all}, byAN,
		}}, "index by_a is not a (HASH) + pk (RANGE), projection ALL"},
		{"index projection", types.TableDescription{KeySchema: pkOnly, GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{
			byA, {IndexName: aws.String("by_a_n"), KeySchema: byAN.KeySchema, Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}},
		}}, "index by_a_n is not a (HASH) + n (RANGE), projection ALL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := testSpec.checkLayout(&tc.desc)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("checkLayout = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("checkLayout = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// dynalite has no Time to Live, so the drivers' suites never see these
// states.
func TestTTLState(t *testing.T) {
	for _, tc := range []struct {
		name    string
		desc    *types.TimeToLiveDescription
		on      bool
		wantErr string
	}{
		{"none", nil, false, ""},
		{"disabled", &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusDisabled}, false, ""},
		{"enabled", &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusEnabled, AttributeName: aws.String("exp")}, true, ""},
		{"enabling", &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusEnabling, AttributeName: aws.String("exp")}, true, ""},
		{"other attribute", &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusEnabled, AttributeName: aws.String("ttl")},
			false, `test: table "t" has time to live on "ttl", not "exp"`},
		{"disabling", &types.TimeToLiveDescription{TimeToLiveStatus: types.TimeToLiveStatusDisabling, AttributeName: aws.String("exp")},
			false, "time to live is being disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := testSpec.ttlState(tc.desc)
			if on != tc.on {
				t.Errorf("on = %v, want %v", on, tc.on)
			}
			if (tc.wantErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}
