#pragma once
// Small helpers shared by unit tests across modules.
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "protocol/jid.hpp"
#include "protocol/namespaces.hpp"
#include "protocol/stanza.hpp"
#include "storage/store.hpp"

namespace hush::test {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class temp_dir {
public:
    temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "hush-test.XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A JID a test spells out; one that is no JID throws, which fails the test.
inline jid parse_jid(std::string_view text) {
    auto j = jid::parse(text);
    if (!j) {
        throw std::invalid_argument("not a JID: " + std::string(text));
    }
    return *j;
}

inline storage::store_options sqlite_options(const std::filesystem::path& dir) {
    storage::store_options o;
    o.backend = storage::store_options::backend_kind::sqlite;
    o.sqlite_path = (dir / "hush.db").string();
    return o;
}

// Runs one awaitable to completion on a fresh io_context.
template <class T>
T run_sync(boost::asio::awaitable<T> work) {
    boost::asio::io_context io;
    auto fut = boost::asio::co_spawn(io, std::move(work), boost::asio::use_future);
    io.run();
    return fut.get();
}

// The stanza error condition and type of a reply, or empty strings.
struct error_info {
    std::string type;
    std::string condition;
};

inline error_info error_of(const stanza& reply) {
    error_info out;
    const auto e = reply.element().child("error");
    out.type = e.attribute("type").value();
    for (auto c : e.children()) {
        if (c.type() == pugi::node_element && ns::stanza_errors == c.attribute("xmlns").value() &&
            std::string_view(c.name()) != "text") {
            out.condition = c.name();
        }
    }
    return out;
}

}  // namespace hush::test
