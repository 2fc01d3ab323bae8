package dynamoutil

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

func TestWrap(t *testing.T) {
	missing := TableSpec{Name: "t", Driver: "test", ErrNoTable: errNoTable}.Wrap("get x", &types.ResourceNotFoundException{})
	var rnf *types.ResourceNotFoundException
	if !errors.Is(missing, errNoTable) || !errors.As(missing, &rnf) {
		t.Errorf("Wrap of ResourceNotFound = %v, want ErrNoTable with the SDK error in the chain", missing)
	}
	other := errors.New("boom")
	err := TableSpec{Name: "t", Driver: "test", ErrNoTable: errNoTable}.Wrap("get x", other)
	if errors.Is(err, errNoTable) || !errors.Is(err, other) || err.Error() != `test: get x in table "t": boom` {
		t.Errorf("Wrap of another error = %q, want it named and kept", err)
	}
}

func TestIsUnknownOperation(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&smithy.GenericAPIError{Code: "UnknownOperationException"}, true},
		{fmt.Errorf("wrapped: %w", &smithy.GenericAPIError{Code: "NotImplemented"}), true},
		{&smithy.GenericAPIError{Code: "ValidationException"}, false},
		{errors.New("UnknownOperationException"), false},
		{nil, false},
	} {
		if got := IsUnknownOperation(tc.err); got != tc.want {
			t.Errorf("IsUnknownOperation(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// ConflictItem returns the item DynamoDB sent with the failed condition
// without reading it (the nil client would panic), and passes other errors
// through. Its read, where no item came back, is exercised by the drivers'
// suites on dynalite.
func TestConflictItemWithoutRead(t *testing.T) {
	ctx := context.Background()
	key := map[string]types.AttributeValue{"pk": S("a")}
	item := map[string]types.AttributeValue{"pk": S("a"), AttrToken: S("tok")}
	got, err := ConflictItem(ctx, nil, "t", key, fmt.Errorf("put: %w", &types.ConditionalCheckFailedException{Item: item}))
	if err != nil || GetS(got, AttrToken) != "tok" {
		t.Errorf("ConflictItem with the item = %v, %v; want the item", got, err)
	}
	if !OwnWrite(got, "tok") || OwnWrite(got, "other") || OwnWrite(nil, "") {
		t.Error("OwnWrite does not tell our token from another, or from no item")
	}
	other := errors.New("boom")
	if got, err := ConflictItem(ctx, nil, "t", key, other); got != nil || err != other {
		t.Errorf("ConflictItem of another error = %v, %v; want nil, the error", got, err)
	}
}

func TestAttributeValues(t *testing.T) {
	item := map[string]types.AttributeValue{"s": S("x"), "n": N(-42), "bad": &types.AttributeValueMemberN{Value: "1.5"}}
	if GetS(item, "s") != "x" || GetS(item, "n") != "" || GetS(item, "none") != "" {
		t.Error("GetS does not read strings alone")
	}
	if GetN(item, "n") != -42 || GetN(item, "s") != 0 || GetN(item, "bad") != 0 {
		t.Error("GetN does not read integers alone")
	}
	if a, b := NewToken(), NewToken(); len(a) != 32 || a == b {
		t.Errorf("NewToken = %q, %q; want two different 32-digit tokens", a, b)
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Minute); !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Errorf("Sleep on a cancelled context = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("Sleep = %v, want nil", err)
	}
}
