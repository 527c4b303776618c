// Package a holds //export functions that follow the rule and each way to break it.
package a

type status int32

// shared is a status that is not the result of any function.
var shared status

func guard(s *status) {
	if r := recover(); r != nil {
		*s = -1
	}
}

// good follows the rule; other doc lines may surround the directive.
//
//export good
func good(x int32) (st status) {
	defer guard(&st)
	return status(x)
}

//export goodEarlyReturn
func goodEarlyReturn(x int32) (st status) {
	defer guard(&st)
	if x < 0 {
		return 1
	}
	return 0
}

//export missingDefer
func missingDefer(x int32) (st status) { // want `//export func missingDefer does not start with .defer guard\(&st\).`
	return status(x)
}

//export notFirst
func notFirst(x int32) (st status) { // want `//export func notFirst: .defer guard\(&st\). must be its first statement`
	y := x + 1
	defer guard(&st)
	return status(y)
}

//export otherVariable
func otherVariable(x int32) (st status) { // want `//export func otherVariable: guard must receive &st \(its named result\), not &shared`
	defer guard(&shared)
	return status(x)
}

//export paramVariable
func paramVariable(p *status) (st status) { // want `//export func paramVariable: guard must receive &st \(its named result\), not p`
	defer guard(p)
	return 0
}

//export unnamedResult
func unnamedResult(x int32) status { // want `//export func unnamedResult must have exactly one result, and it must be named`
	defer guard(&shared)
	return status(x)
}

//export blankResult
func blankResult(x int32) (_ status) { // want `//export func blankResult must have exactly one result, and it must be named`
	defer guard(&shared)
	return status(x)
}

//export noResult
func noResult(x int32) { // want `//export func noResult must have exactly one result` `//export func noResult does not start with .defer guard\(&<result>\).`
	_ = x
}

//export twoResults
func twoResults(x int32) (st status, y int32) { // want `//export func twoResults must have exactly one result`
	defer guard(&shared)
	return 0, x
}

//export shadowedByParam
func shadowedByParam(guard func(*status)) (st status) { // want `//export func shadowedByParam: deferred guard is a local variable declared at .*a.go:\d+:\d+, not the package-level func guard of package a`
	defer guard(&st)
	return 0
}

//export shadowedByClosure
func shadowedByClosure() (st status) { // want `//export func shadowedByClosure: .defer guard\(&st\). must be its first statement`
	guard := func(s *status) { *s = 0 }
	defer guard(&st)
	return 0
}

//export wrappedInClosure
func wrappedInClosure() (st status) { // want `//export func wrappedInClosure does not start with .defer guard\(&st\).`
	defer func() { guard(&st) }()
	return 0
}

//export calledNotDeferred
func calledNotDeferred() (st status) { // want `//export func calledNotDeferred does not start with .defer guard\(&st\).`
	guard(&st)
	return 0
}

// Guard differs from guard only in case.
func Guard(s *status) { guard(s) }

//export wrongCase
func wrongCase() (st status) { // want `//export func wrongCase: deferred Guard is a package-level func, not the package-level func guard of package a`
	defer Guard(&st)
	return 0
}

// handler has a method named guard.
type handler struct{}

func (handler) guard(s *status) {
	if recover() != nil {
		*s = -1
	}
}

//export viaMethod
func viaMethod() (st status) { // want `//export func viaMethod: deferred handler{}.guard is a method of a.handler, not the package-level func guard of package a`
	defer handler{}.guard(&st)
	return 0
}

// emptyBody cannot have a result: an empty body cannot return one.
//
//export emptyBody
func emptyBody() { // want `//export func emptyBody must have exactly one result` `//export func emptyBody has no body statements; its first statement must be .defer guard\(&<result>\).`
}

//export noBody
func noBody() (st status) // want `//export func noBody has no body statements`

// notExported has no //export directive and is not checked.
func notExported(x int32) status {
	return status(x)
}

// prose mentions
// export prose
// in ordinary text, which is no directive and is not checked.
func prose(x int32) status {
	return status(x)
}
