// XEP-0363's names (server/upload/upload_names): ids and secrets, file names made safe, the URL path parsed back
// (nothing but an id and one name segment reaches the file system), content types, and Range headers.
#include <doctest.h>

#include <set>
#include <string>

#include "server/upload/upload_names.hpp"

using namespace hush::upload;

TEST_CASE("upload names: ids are 32 random lower-case hex digits, secrets 64") {
    std::set<std::string> seen;
    for (int i = 0; i < 100; ++i) {
        const std::string id = random_id();
        CHECK(valid_id(id));
        seen.insert(id);
    }
    CHECK(seen.size() == 100);
    CHECK(random_secret().size() == 64);
    CHECK_FALSE(valid_id(std::string(31, 'a')));
    CHECK_FALSE(valid_id(std::string(32, 'A')));
    CHECK_FALSE(valid_id(std::string(30, 'a') + ".."));
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("upload names: file names lose separators and control characters, and stay under 256 bytes") {
    CHECK(sanitize_filename("très cool.jpg") == "très cool.jpg");
    CHECK(sanitize_filename("../../etc/passwd") == ".._.._etc_passwd");
    CHECK(sanitize_filename("a\\b\nc\x7f") == "a_b_c_");
    CHECK(sanitize_filename("..") == "file");
    CHECK(sanitize_filename(".") == "file");
    CHECK(sanitize_filename("") == "file");
    const std::string long_name = std::string(254, 'a') + "\xc3\xa9\xc3\xa9";  // é é: the first straddles 255
    CHECK(sanitize_filename(long_name) == std::string(254, 'a'));
    CHECK(sanitize_filename(std::string(300, 'b')).size() == 255);
}

TEST_CASE("upload names: percent-encoding and the path parsed back") {
    CHECK(hush::percent_encode("très cool.jpg") == "tr%C3%A8s%20cool.jpg");
    CHECK(hush::percent_decode("tr%C3%A8s%20cool.jpg") == "très cool.jpg");
    CHECK_FALSE(hush::percent_decode("a%2"));
    CHECK_FALSE(hush::percent_decode("a%zz"));
    const std::string id(32, 'f');
    const auto ok = parse_file_path("/upload/" + id + "/tr%C3%A8s%20cool.jpg");
    REQUIRE(ok);
    CHECK(ok->id == id);
    CHECK(ok->filename == "très cool.jpg");
    for (const std::string& bad : std::initializer_list<std::string>{"/upload/../../etc/passwd", "/upload/%2e%2e%2f%2e%2e%2fetc", "/upload/" + id,
                                  "/upload/" + id + "/", "/upload/" + id + "/a/b", "/upload/" + id + "/..%2fx",
                                  "/upload/" + id + "/..%5cx", "/upload/" + id + "/a%00b", "/uploads/" + id + "/a",
                                  "/upload/" + std::string(32, 'F') + "/a", "/upload/" + id + "%2fa"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_file_path(bad));
    }
}

TEST_CASE("upload names: content types allowed, shown inline, acceptable") {
    CHECK(content_type_allowed("anything/at-all", {}));
    CHECK(content_type_allowed("Image/PNG; q=1", {"image/*"}));
    CHECK(content_type_allowed("text/plain", {"image/*", "text/plain"}));
    CHECK_FALSE(content_type_allowed("imagex/png", {"image/*"}));
    CHECK_FALSE(content_type_allowed("text/html", {"text/plain"}));
    CHECK(shown_inline("image/jpeg"));
    CHECK(shown_inline("video/mp4"));
    CHECK(shown_inline("audio/ogg"));
    CHECK(shown_inline("text/plain; charset=utf-8"));
    CHECK_FALSE(shown_inline("image/svg+xml"));
    CHECK_FALSE(shown_inline("text/html"));
    CHECK_FALSE(shown_inline(""));
    CHECK(acceptable_content_type("text/plain; charset=utf-8"));
    CHECK_FALSE(acceptable_content_type("text"));
    CHECK_FALSE(acceptable_content_type("text/plain\r\nX: y"));
    CHECK_FALSE(acceptable_content_type("image/png, text/html"));  // a browser would take the last type
    CHECK_FALSE(acceptable_content_type("image /png"));
    CHECK_FALSE(acceptable_content_type("/png"));
}

TEST_CASE("upload names: one range is partial, several or malformed ones the whole file, past the end none") {
    using k = byte_range::kind;
    auto r = parse_range("bytes=10-19", 100);
    CHECK((r.what == k::partial && r.first == 10 && r.last == 19));
    r = parse_range("bytes=90-", 100);
    CHECK((r.what == k::partial && r.first == 90 && r.last == 99));
    r = parse_range("bytes=-7", 100);
    CHECK((r.what == k::partial && r.first == 93 && r.last == 99));
    r = parse_range("bytes=-700", 100);
    CHECK((r.what == k::partial && r.first == 0 && r.last == 99));
    r = parse_range("bytes=50-500", 100);
    CHECK((r.what == k::partial && r.first == 50 && r.last == 99));
    CHECK(parse_range("bytes=100-", 100).what == k::unsatisfiable);
    CHECK(parse_range("bytes=-0", 100).what == k::unsatisfiable);
    CHECK(parse_range("bytes=0-", 0).what == k::unsatisfiable);
    CHECK(parse_range("", 100).what == k::whole);
    CHECK(parse_range("bytes=0-1,5-6", 100).what == k::whole);
    CHECK(parse_range("bytes=5-1", 100).what == k::whole);
    CHECK(parse_range("items=0-1", 100).what == k::whole);
    CHECK(parse_range("bytes=a-b", 100).what == k::whole);
}
