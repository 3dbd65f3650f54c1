// The [upload] section (XEP-0363 HTTP file upload): defaults (one service per host, the URL from a listener), every
// key, and errors with line:column and key.
#include <doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "server/config/config.hpp"
#include "tests/unit/server/config/config_test_support.hpp"

using hush::config;
using namespace hush::config_testing;
using strings = std::vector<std::string>;

TEST_CASE("upload: defaults give upload.<host> per host, files under data_dir, the URL of the http listener") {
    // Only an http listener: off unless asked for (XEP-0363 wants HTTPS), then on the http listener's URL.
    CHECK_FALSE(load_ok("").upload.enabled);
    CHECK(load_ok("").upload.services.empty());
    const config c = load_ok("[upload]\nenabled = true\n");
    CHECK(c.upload.enabled);
    CHECK(c.upload.services == strings{"upload.localhost"});
    CHECK(c.upload.service_hosts == strings{"localhost"});
    CHECK(c.upload.directory == c.data_dir / "uploads");
    CHECK(c.upload.max_file_size == 104857600);
    CHECK(c.upload.quota_per_user == 1073741824);
    CHECK(c.upload.expire_after == std::chrono::seconds{604800});
    CHECK(c.upload.slot_timeout == std::chrono::seconds{300});
    CHECK(c.upload.allowed_content_types.empty());
    CHECK(c.upload.max_slots_per_minute == 30);
    CHECK(c.upload.max_pending_slots == 10);
    CHECK(c.upload.cors_origins == strings{"*"});
    // The default listeners include http on 127.0.0.1:5280 (the fourth).
    CHECK(c.upload.public_url == "http://127.0.0.1:5280");
    CHECK(c.upload.public_url_listener == 3);

    const config two = load_ok("[server]\nhosts = [\"a.test\", \"B.Test\"]\n[upload]\nenabled = true\n");
    CHECK(two.upload.services == strings{"upload.a.test", "upload.b.test"});
    CHECK(two.upload.service_hosts == strings{"a.test", "b.test"});
    CHECK(load_ok("[upload]\nenabled = false\n").upload.services.empty());
}

TEST_CASE("upload: the default URL prefers an https listener, and without any uploads are off") {
    const config https = load_ok("[server]\nhosts = [\"chat.test\"]\n[[listen]]\nkind = \"http\"\nport = 8080\n"
                                 "[[listen]]\nkind = \"https\"\n");
    CHECK(https.upload.public_url == "https://chat.test:5281");
    CHECK(https.upload.public_url_listener == 1);
    CHECK(https.upload.enabled);  // on by default with an https listener
    const config any = load_ok("[[listen]]\nkind = \"http\"\naddress = \"0.0.0.0\"\nport = 8080\n[upload]\nenabled = true\n");
    CHECK(any.upload.public_url == "http://localhost:8080");
    const config v6 = load_ok("[[listen]]\nkind = \"http\"\naddress = \"::1\"\nport = 8080\n[upload]\nenabled = true\n");
    CHECK(v6.upload.public_url == "http://[::1]:8080");
    // No http(s) listener: no upload service unless asked for, and then an error.
    const config none = load_ok("[[listen]]\nkind = \"c2s\"\n");
    CHECK_FALSE(none.upload.enabled);
    CHECK(none.upload.services.empty());
    CHECK(load_error("[[listen]]\nkind = \"c2s\"\n[upload]\nenabled = true\n")
              .starts_with("4:11: upload.enabled: uploads need an http or https listener"));
    // ... or with a public URL (a reverse proxy in front).
    const config proxied = load_ok("[[listen]]\nkind = \"c2s\"\n[upload]\npublic_url = \"https://files.example.org\"\n");
    CHECK(proxied.upload.enabled);
    CHECK(proxied.upload.public_url_listener == -1);
}

TEST_CASE("upload: every key read") {
    const config c = load_ok(
        "[server]\nhosts = [\"a.test\"]\ndata_dir = \"/srv/hush\"\n[upload]\nservices = [\"Files.A.TEST\"]\n"
        "directory = \"up\"\nmax_file_size = 1000\nquota_per_user = 5000\nexpire_after = 60\nslot_timeout = 2\n"
        "allowed_content_types = [\"image/*\", \"Text/Plain\"]\npublic_url = \"https://chat.a.test/x\"\n"
        "max_slots_per_minute = 3\nmax_pending_slots = 4\ncors_origins = [\"https://web.a.test\"]\n");
    CHECK(c.upload.services == strings{"files.a.test"});
    CHECK(c.upload.service_hosts == strings{"a.test"});
    CHECK(c.upload.directory == "/srv/hush/up");  // relative to data_dir
    CHECK(c.upload.max_file_size == 1000);
    CHECK(c.upload.quota_per_user == 5000);
    CHECK(c.upload.expire_after == std::chrono::seconds{60});
    CHECK(c.upload.slot_timeout == std::chrono::seconds{2});
    CHECK(c.upload.allowed_content_types == strings{"image/*", "text/plain"});
    CHECK(c.upload.public_url == "https://chat.a.test/x");
    CHECK(c.upload.public_url_listener == -1);
    CHECK(c.upload.max_slots_per_minute == 3);
    CHECK(c.upload.max_pending_slots == 4);
    CHECK(c.upload.cors_origins == strings{"https://web.a.test"});
}

TEST_CASE("upload: errors carry line:column and key") {
    CHECK(load_error("[upload]\nbogus = 1\n").starts_with("2:1: upload.bogus: "));
    CHECK(load_error("[upload]\nservices = [\"localhost\"]\n")
              .starts_with("2:13: upload.services[0]: \"localhost\" is one of server.hosts"));
    CHECK(load_error("[upload]\nservices = [\"conference.localhost\"]\n")
              .starts_with("2:13: upload.services[0]: \"conference.localhost\" is a MUC service"));
    CHECK(load_error("[upload]\nservices = [\"upload.elsewhere.org\"]\n")
              .starts_with("2:13: upload.services[0]: \"upload.elsewhere.org\" is not a subdomain of one of "
                           "server.hosts"));
    CHECK(load_error("[upload]\nservices = [\"u.localhost\", \"U.localhost\"]\n")
              .starts_with("2:28: upload.services[1]: duplicate service \"u.localhost\""));
    CHECK(load_error("[upload]\nmax_file_size = 0\n").starts_with("2:17: upload.max_file_size: "));
    CHECK(load_error("[upload]\nmax_file_size = 100\nquota_per_user = 50\n")
              .starts_with("3:18: upload.quota_per_user: must not be less than upload.max_file_size (100)"));
    CHECK(load_error("[upload]\nslot_timeout = 0\n").starts_with("2:16: upload.slot_timeout: "));
    CHECK(load_error("[upload]\nexpire_after = \"1d\"\n").starts_with("2:16: upload.expire_after: "));
    CHECK(load_error("[upload]\nallowed_content_types = [\"image\"]\n")
              .starts_with("2:26: upload.allowed_content_types[0]: expected a media type"));
    CHECK(load_error("[upload]\nallowed_content_types = [\"*/png\"]\n")
              .starts_with("2:26: upload.allowed_content_types[0]: "));
    CHECK(load_error("[upload]\npublic_url = \"https://a.test/\"\n").starts_with("2:14: upload.public_url: "));
    CHECK(load_error("[upload]\npublic_url = \"ftp://a.test\"\n").starts_with("2:14: upload.public_url: "));
    CHECK(load_error("[upload]\ncors_origins = [\"web.a.test\"]\n")
              .starts_with("2:17: upload.cors_origins[0]: expected \"*\" or an origin"));
    CHECK(load_error("[upload]\nmax_pending_slots = 0\n").starts_with("2:21: upload.max_pending_slots: "));
    CHECK(load_error("[upload]\nmax_slots_per_minute = 0\n").starts_with("2:24: upload.max_slots_per_minute: "));
    CHECK(load_error("[server]\nhosts = [\"a.test\", \"upload.a.test\"]\n")
              .starts_with("2:9: upload.services: the default service for host \"a.test\" is unusable: "
                           "\"upload.a.test\" is one of server.hosts"));
}
