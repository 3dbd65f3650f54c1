#pragma once
// Test doubles that keep what the code under test sends: a stanza sink (the router as background work and
// federation see it), what a service returned in an `outgoing`, and a client session. Both keep parsed stanzas; `.serialize()` gives the wire form.
#include <doctest.h>

#include <vector>

#include <boost/asio/awaitable.hpp>

#include "antispim/stanza_sink.hpp"
#include "protocol/outgoing.hpp"
#include "protocol/stanza.hpp"
#include "server/stream/session.hpp"

namespace hush::test {

class recording_sink final : public stanza_sink {
public:
    boost::asio::awaitable<void> send(stanza s) override {
        sent.push_back(std::move(s));
        co_return;
    }
    std::vector<stanza> sent;
};

// What a service put into an `outgoing` (any path), appended in order to `into`; `out` is left empty.
inline void drain(outgoing& out, std::vector<stanza>& into) {
    for (auto& o : out.take()) {
        REQUIRE(o.content.valid());
        into.push_back(std::move(o.content));
    }
}

class recording_session final : public session {
public:
    // What reaches a client must be one well-formed stanza (checked on every delivery).
    void deliver(shared_bytes serialized) override {
        stanza s = stanza::parse(*serialized);
        REQUIRE(s.valid());
        delivered.push_back(std::move(s));
    }
    void close(stream_error) override {}
    std::vector<stanza> delivered;
};

}  // namespace hush::test
