package main

// lab.pb.go and lab_grpc.pb.go are generated from lab.proto and committed, so
// that building the lesson needs no protoc. To regenerate them, with protoc
// installed (Debian: protobuf-compiler) and the two plugins from go.mod's
// tools (TestGeneratedCodeUpToDate runs the same):
//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative lab.proto"
