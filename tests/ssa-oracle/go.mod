module vixens.test/ssa-oracle

go 1.19

require sigs.k8s.io/structured-merge-diff/v4 v4.1.2

// Everything comes from Debian's golang-k8s-sigs-structured-merge-diff-dev (and its dependencies) under
// /usr/share/gocode/src; scripts/ssa-oracle.sh builds offline (GOPROXY=off, GOFLAGS=-mod=mod). A Debian source
// dir without go.mod (modern-go/concurrent) is replaced through a copy of it that the script gives one (GOCODE
// below is the script's copy root); gofuzz, testify, go-spew and check.v1 are only
// needed by the dependencies' own tests: empty stub modules.
replace (
	sigs.k8s.io/structured-merge-diff/v4 => /usr/share/gocode/src/sigs.k8s.io/structured-merge-diff
	github.com/json-iterator/go => /usr/share/gocode/src/github.com/json-iterator/go
	github.com/modern-go/concurrent => GOCODE/github.com/modern-go/concurrent
	github.com/modern-go/reflect2 => /usr/share/gocode/src/github.com/modern-go/reflect2
	gopkg.in/yaml.v2 => /usr/share/gocode/src/gopkg.in/yaml.v2
	github.com/google/gofuzz => GOCODE/stub/gofuzz
	github.com/stretchr/testify => GOCODE/stub/testify
	github.com/davecgh/go-spew => GOCODE/stub/go-spew
	gopkg.in/check.v1 => GOCODE/stub/check.v1
)
