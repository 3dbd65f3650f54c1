#pragma once
// Test doubles shared by the server unit tests.
#include "server/stream/session.hpp"

namespace hush::test {

// A session that accepts everything and records nothing.
class null_session final : public session {
public:
    void deliver(shared_bytes) override {}
    void close(stream_error) override {}
};

}  // namespace hush::test
