#pragma once
// RFC 7395 framing: XMPP over WebSocket sends one complete element per message and replaces the stream's open and
// close tags with <open/> and <close/> in urn:ietf:params:xml:ns:xmpp-framing. The server keeps one stream parser
// and one serializer for TCP and WebSocket alike, and translates at the edge: a client's messages become the bytes
// of an RFC 6120 stream, and what the server writes is cut into messages, each declaring its namespaces.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hush::websocket_framing {

inline constexpr std::string_view framing_ns = "urn:ietf:params:xml:ns:xmpp-framing";

// Where the top-level construct starting at `pos` (at a '<') ends: one past its last byte, or npos when it is not
// complete in `text`. A construct is an element (with its content), a processing instruction, a comment or a
// CDATA section. Quoted attribute values may hold '>'.
std::size_t construct_end(std::string_view text, std::size_t pos);

// One message from the client, as what the stream parser should see.
struct inbound {
    enum class kind { open, close, element, error };
    kind what = kind::error;
    std::string bytes;      // open: an RFC 6120 stream header; close: "</stream:stream>"; element: the message
    std::string condition;  // error: the stream error (bad-format, invalid-namespace)
    std::string text;       // error: why
};
// `content_ns` is the stream's (jabber:client): the header made from an <open/> declares it as the default.
inbound from_client(std::string_view message, std::string_view content_ns);

// Cuts the server's output (stream header, elements, the closing tag, in any chunks) into WebSocket messages:
// the header becomes <open/>, </stream:stream> becomes <close/>, stream:* elements declare the streams prefix,
// and elements without a namespace of their own get `content_ns`. An incomplete tail waits for the next chunk.
// Returns false when the tail waiting for its end passes `max_pending` bytes (output that never completes an element:
// a bug of ours, so the stream is closed rather than buffering without bound).
class outbound_splitter {
public:
    explicit outbound_splitter(std::string_view content_ns, std::size_t max_pending = 1024 * 1024)
        : content_ns_(content_ns), max_pending_(max_pending) {}
    bool push(std::string_view bytes, std::vector<std::string>& messages);
    bool idle() const { return pending_.empty(); }

private:
    std::string_view content_ns_;
    std::size_t max_pending_;
    std::string pending_;  // empty without capacity between elements: an idle connection keeps no buffer
};

}  // namespace hush::websocket_framing
