#pragma once
// What the router and registry know of a client session: where to deliver serialized stanzas and how to end it.
// Implementations must make deliver() and close() safe to call from any thread.
#include <memory>
#include <string>

#include "protocol/stanza.hpp"

namespace hush {

using shared_bytes = std::shared_ptr<const std::string>;

class session {
public:
    virtual ~session() = default;
    // Appends to the session's bounded outbox; a session whose outbox overflows closes itself.
    virtual void deliver(shared_bytes serialized) = 0;
    // A presence update from `from`: a session may hold it while its client is inactive (XEP-0352), keeping
    // only the latest per sender.
    virtual void deliver_presence(shared_bytes serialized, const std::string& /*from*/) { deliver(std::move(serialized)); }
    // Sends the stream error (if any condition) and closes the stream.
    virtual void close(stream_error error) = 0;
};

inline shared_bytes share(std::string bytes) { return std::make_shared<const std::string>(std::move(bytes)); }

}  // namespace hush
