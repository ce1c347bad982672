// Umbrella header for the protobuf-c code generated from Protos/{feature,example}.proto.
// Regenerate (from the repository root) with the command in Sources/CExampleProto/README.md.
#ifndef PRISM_CEXAMPLEPROTO_H
#define PRISM_CEXAMPLEPROTO_H
#include "feature.pb-c.h"
#include "example.pb-c.h"
#endif
