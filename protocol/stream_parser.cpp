#include "protocol/stream_parser.hpp"

#include <expat.h>

#include <algorithm>
#include <cstring>

#include "protocol/namespaces.hpp"

namespace hush::xml {

namespace {

constexpr char ns_separator = '\x01';

struct qname {
    std::string_view ns;
    std::string_view local;
};

qname split_name(const XML_Char* name) {
    std::string_view full(name);
    const auto sep = full.find(ns_separator);
    if (sep == std::string_view::npos) {
        return {{}, full};
    }
    return {full.substr(0, sep), full.substr(sep + 1)};
}

bool is_xml_whitespace(std::string_view text) {
    return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

}  // namespace

struct stream_parser::impl {
    parser_limits limits;
    XML_Parser parser = nullptr;
    std::vector<stream_event>* out = nullptr;
    std::optional<stream_error> error;

    std::size_t depth = 0;  // 0: outside the stream root; 1: between stanzas; >=2: inside a stanza
    std::string content_ns;
    std::string pending_default_ns;  // default namespace declared on the element about to start
    bool root_seen = false;

    // The stanza being built.
    std::shared_ptr<pugi::xml_document> doc;
    std::string stanza_ns;
    std::vector<std::pair<pugi::xml_node, std::string>> open;  // element and its namespace
    // Character data for open.back() not yet in the tree: expat delivers text in many small chunks (one per entity
    // reference), so gather the run here and store it once when the next tag starts or ends. Keeps it linear.
    std::string pending_text;

    // Bytes fed in total, and where the current stanza (or the gap since the last one) started.
    std::size_t fed = 0;
    std::size_t boundary = 0;
    std::size_t text_copied = 0;  // see stream_parser::text_bytes_copied

    explicit impl(parser_limits l) : limits(l) { create(); }
    ~impl() { destroy(); }

    void destroy() {
        if (parser != nullptr) {
            XML_ParserFree(parser);
            parser = nullptr;
        }
    }

    void create() {
        destroy();
        // Force UTF-8 whatever the XML declaration says (RFC 6120 §11.6).
        parser = XML_ParserCreateNS("UTF-8", ns_separator);
        // Expat's reparse deferral (2.6.0, backported to Debian 12's 2.5.0) holds back complete tokens until more
        // bytes arrive — fatal for a stream where the peer waits for our answer. The quadratic cost it guards
        // against is bounded here by max_stanza_bytes.
#ifdef HUSH_EXPAT_REPARSE_DEFERRAL
        XML_SetReparseDeferralEnabled(parser, XML_FALSE);
#endif
        XML_SetUserData(parser, this);
        XML_SetElementHandler(parser, &impl::on_start, &impl::on_end);
        XML_SetCharacterDataHandler(parser, &impl::on_text);
        XML_SetStartNamespaceDeclHandler(parser, &impl::on_ns_decl);
        XML_SetStartDoctypeDeclHandler(parser, &impl::on_doctype);
        XML_SetEntityDeclHandler(parser, &impl::on_entity_decl);
        XML_SetCommentHandler(parser, &impl::on_comment);
        XML_SetProcessingInstructionHandler(parser, &impl::on_pi);
        XML_SetParamEntityParsing(parser, XML_PARAM_ENTITY_PARSING_NEVER);
        depth = 0;
        content_ns.clear();
        pending_default_ns.clear();
        root_seen = false;
        doc.reset();
        open.clear();
        pending_text.clear();
        error.reset();
        fed = 0;
        boundary = 0;
    }

    void fail(std::string condition, std::string text = {}) {
        if (!error) {
            error = stream_error{std::move(condition), std::move(text)};
        }
        XML_StopParser(parser, XML_FALSE);
    }

    static impl& self(void* data) { return *static_cast<impl*>(data); }

    // Stores the gathered text run as one text node of the innermost open element.
    void flush_text() {
        if (pending_text.empty()) {
            return;
        }
        open.back().first.append_child(pugi::node_pcdata).set_value(pending_text.data(), pending_text.size());
        text_copied += pending_text.size();
        pending_text.clear();  // keeps the capacity for the next run
    }

    static void on_ns_decl(void* data, const XML_Char* prefix, const XML_Char* uri) {
        auto& s = self(data);
        if (prefix == nullptr) {
            s.pending_default_ns = uri != nullptr ? uri : "";
        }
    }

    static void on_doctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
        self(data).fail("restricted-xml", "DTDs are not allowed");
    }
    static void on_entity_decl(void* data, const XML_Char*, int, const XML_Char*, int, const XML_Char*,
                               const XML_Char*, const XML_Char*, const XML_Char*) {
        self(data).fail("restricted-xml", "entity declarations are not allowed");
    }
    static void on_comment(void* data, const XML_Char*) {
        self(data).fail("restricted-xml", "comments are not allowed");
    }
    static void on_pi(void* data, const XML_Char*, const XML_Char*) {
        self(data).fail("restricted-xml", "processing instructions are not allowed");
    }

    static void on_start(void* data, const XML_Char* name, const XML_Char** attrs) {
        auto& s = self(data);
        if (s.error) {
            return;
        }
        const qname q = split_name(name);
        if (s.depth >= 2) {
            s.flush_text();
        }
        if (s.depth == 0) {
            s.start_stream(q, attrs);
        } else {
            s.start_element(q, attrs);
        }
        s.pending_default_ns.clear();
    }

    void start_stream(const qname& q, const XML_Char** attrs) {
        if (root_seen) {
            fail("not-well-formed", "a second stream header");
            return;
        }
        root_seen = true;
        stream_open header;
        header.stream_ns = std::string(q.ns);
        header.local_name = std::string(q.local);
        header.content_ns = pending_default_ns;
        for (auto a = attrs; *a != nullptr; a += 2) {
            const qname an = split_name(a[0]);
            const std::string_view value(a[1]);
            if (an.ns == ns::xml && an.local == "lang") {
                header.lang = value;
            } else if (!an.ns.empty()) {
                continue;
            } else if (an.local == "to") {
                header.to = value;
            } else if (an.local == "from") {
                header.from = value;
            } else if (an.local == "version") {
                header.version = value;
            } else if (an.local == "id") {
                header.id = value;
            }
        }
        content_ns = header.content_ns;
        depth = 1;
        boundary = static_cast<std::size_t>(XML_GetCurrentByteIndex(parser)) + XML_GetCurrentByteCount(parser);
        out->emplace_back(std::move(header));
    }

    void start_element(const qname& q, const XML_Char** attrs) {
        const std::string element_ns(q.ns);
        pugi::xml_node node;
        bool needs_xmlns = false;
        if (depth == 1) {
            doc = std::make_shared<pugi::xml_document>();
            node = doc->append_child(std::string(q.local).c_str());
            stanza_ns = element_ns;
            needs_xmlns = element_ns != content_ns;
        } else {
            if (depth - 1 > limits.max_depth) {
                fail("policy-violation", "elements nested too deeply");
                return;
            }
            auto& [parent, parent_ns] = open.back();
            node = parent.append_child(std::string(q.local).c_str());
            needs_xmlns = element_ns != parent_ns;
        }
        if (needs_xmlns) {
            node.append_attribute("xmlns").set_value(element_ns.c_str());
        }
        int generated_prefix = 0;
        for (auto a = attrs; *a != nullptr; a += 2) {
            const qname an = split_name(a[0]);
            if (an.ns.empty()) {
                node.append_attribute(std::string(an.local).c_str()).set_value(a[1]);
            } else if (an.ns == ns::xml) {
                node.append_attribute(("xml:" + std::string(an.local)).c_str()).set_value(a[1]);
            } else {
                // A namespaced attribute: declare a prefix of our own for it on this element.
                const std::string prefix = "ns" + std::to_string(++generated_prefix);
                node.append_attribute(("xmlns:" + prefix).c_str()).set_value(std::string(an.ns).c_str());
                node.append_attribute((prefix + ":" + std::string(an.local)).c_str()).set_value(a[1]);
            }
        }
        open.emplace_back(node, element_ns);
        ++depth;
    }

    static void on_end(void* data, const XML_Char*) {
        auto& s = self(data);
        if (s.error) {
            return;
        }
        if (s.depth == 1) {
            s.depth = 0;
            s.out->emplace_back(stream_close{});
            return;
        }
        s.flush_text();
        --s.depth;
        s.open.pop_back();
        if (s.depth == 1) {
            s.out->emplace_back(top_level_element{hush::stanza(std::move(s.doc), std::move(s.stanza_ns))});
            s.doc.reset();
            s.stanza_ns.clear();
            // Don't let one big body pin its buffer for the rest of an idle connection.
            if (s.pending_text.capacity() > 4096) {
                std::string().swap(s.pending_text);
            }
            s.boundary = static_cast<std::size_t>(XML_GetCurrentByteIndex(s.parser)) +
                         XML_GetCurrentByteCount(s.parser);
        }
    }

    static void on_text(void* data, const XML_Char* text, int len) {
        auto& s = self(data);
        if (s.error) {
            return;
        }
        const std::string_view chunk(text, static_cast<std::size_t>(len));
        if (s.depth <= 1) {
            // Between stanzas only whitespace (keepalives) is allowed.
            if (!is_xml_whitespace(chunk)) {
                s.fail("bad-format", "text outside a stanza");
            }
            return;
        }
        // Count a reallocation's move of the run so far too: the counter is all the copying, not just appends.
        if (s.pending_text.size() + chunk.size() > s.pending_text.capacity()) {
            s.text_copied += s.pending_text.size();
        }
        s.pending_text.append(chunk);
        s.text_copied += chunk.size();
    }
};

stream_parser::stream_parser(parser_limits limits) : impl_(std::make_unique<impl>(limits)) {}
stream_parser::~stream_parser() = default;

void stream_parser::reset() { impl_->create(); }

std::size_t stream_parser::text_bytes_copied() const { return impl_->text_copied; }

std::optional<stream_error> stream_parser::feed(std::string_view bytes, std::vector<stream_event>& out) {
    auto& s = *impl_;
    if (s.error) {
        return s.error;
    }
    s.out = &out;
    // Feed in bounded slices so the size limit is checked before expat buffers a huge element.
    constexpr std::size_t slice = 16 * 1024;
    while (!bytes.empty()) {
        const auto n = std::min(bytes.size(), slice);
        const auto status = XML_Parse(s.parser, bytes.data(), static_cast<int>(n), XML_FALSE);
        s.fed += n;
        bytes.remove_prefix(n);
        if (s.error) {
            break;
        }
        if (status != XML_STATUS_OK) {
            const auto code = XML_GetErrorCode(s.parser);
            if (code == XML_ERROR_UNDEFINED_ENTITY || code == XML_ERROR_RECURSIVE_ENTITY_REF ||
                code == XML_ERROR_EXTERNAL_ENTITY_HANDLING || code == XML_ERROR_MISPLACED_XML_PI) {
                s.error = stream_error{"restricted-xml", XML_ErrorString(code)};
            } else {
                s.error = stream_error{"not-well-formed", XML_ErrorString(code)};
            }
            break;
        }
        if (s.fed - s.boundary > s.limits.max_stanza_bytes) {
            s.error = stream_error{"policy-violation", "stanza too large (limit " +
                                                           std::to_string(s.limits.max_stanza_bytes) + " bytes)"};
            break;
        }
    }
    s.out = nullptr;
    return s.error;
}

}  // namespace hush::xml
