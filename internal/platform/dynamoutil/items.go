package dynamoutil

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AttrToken is the attribute holding the token of an item's last write.
const AttrToken = "wtoken"

// S is a string attribute value.
func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// N is an integer attribute value.
func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// GetS returns a string attribute, "" when absent or of another type.
func GetS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// GetN returns an integer attribute, 0 when absent or not an integer.
func GetN(item map[string]types.AttributeValue, name string) int64 {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		n, _ := strconv.ParseInt(v.Value, 10, 64)
		return n
	}
	return 0
}

// NewToken returns a random token identifying one write.
func NewToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// OwnWrite reports whether item exists and was last written with token.
func OwnWrite(item map[string]types.AttributeValue, token string) bool {
	return item != nil && GetS(item, AttrToken) == token
}

// GetItem reads the item at key of table consistently; nil when it does not
// exist. Errors are the SDK's, unwrapped.
func GetItem(ctx context.Context, db *dynamodb.Client, table string, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &table,
		Key:            key,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// ConflictItem returns the item at key whose condition failed a write to
// table, given the write's error: the item DynamoDB returned with a
// ConditionalCheckFailedException (the write must ask for it with
// ReturnValuesOnConditionCheckFailure ALL_OLD), or, where the endpoint
// returned none (emulators, or no item), a consistent read of it; nil when
// there is no item. Any other error is returned as it is.
func ConflictItem(ctx context.Context, db *dynamodb.Client, table string, key map[string]types.AttributeValue, err error) (map[string]types.AttributeValue, error) {
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return nil, err
	}
	if len(ccf.Item) > 0 {
		return ccf.Item, nil
	}
	return GetItem(ctx, db, table, key)
}
