#pragma once
// Incremental XMPP stream parser: libexpat (namespace-aware) fed with whatever bytes arrived, producing one
// pugixml tree per top-level element. Correct however the bytes are split. Enforces RFC 6120 §11.1 restricted
// XML (no DTD, entity declarations, comments or processing instructions) and the size and depth limits. An idle
// stream costs no expat parser: between elements it lends its parser to the thread's pool (see the .cpp).
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <pugixml.hpp>

#include "protocol/stanza.hpp"

namespace hush::xml {

struct parser_limits {
    std::size_t max_stanza_bytes = 256 * 1024;
    std::size_t max_depth = 32;  // nesting below the stanza element
};

struct stream_open {
    std::string stream_ns;   // namespace of the root element (must be ns::streams)
    std::string local_name;  // must be "stream"
    std::string content_ns;  // default namespace declared on the root (jabber:client / jabber:server)
    std::string to;
    std::string from;
    std::string version;
    std::string lang;
    std::string id;
};

struct top_level_element {
    hush::stanza element;  // namespace in element.ns(); no xmlns attribute when it is the content namespace
};

struct stream_close {};

using stream_event = std::variant<stream_open, top_level_element, stream_close>;

class stream_parser {
public:
    explicit stream_parser(parser_limits limits);
    ~stream_parser();
    stream_parser(const stream_parser&) = delete;
    stream_parser& operator=(const stream_parser&) = delete;

    // Parses bytes, appending complete events to `out`. Returns a stream error to send (and close) on bad input;
    // once an error is returned the parser must be reset before it is fed again.
    std::optional<stream_error> feed(std::string_view bytes, std::vector<stream_event>& out);

    // Starts a new stream on the same connection (after STARTTLS or SASL success).
    void reset();

    // Bytes of character data copied while building text nodes, over the parser's lifetime (reset() keeps it).
    // An operation count for tests: accumulation must stay linear in the input however expat chunks the text.
    std::size_t text_bytes_copied() const;

    // Whether it holds an expat parser now: only while an element is incomplete (or before the stream's root, or
    // when the root is unusual). Between elements the parser waits in a pool of the thread's.
    bool holds_expat_parser() const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace hush::xml
