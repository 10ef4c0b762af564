package intake

import "reflect"

var typeStringSlice = reflect.TypeOf([]string{})
