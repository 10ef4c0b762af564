package dispatcher

import "reflect"

var typeStringSlice = reflect.TypeOf([]string{})
