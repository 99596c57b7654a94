package clientapi_test

import "encoding/json"

func jsonDecode(data []byte, v any) { json.Unmarshal(data, v) }
