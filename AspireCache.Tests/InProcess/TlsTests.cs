using System.Net;
using System.Security.Authentication;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Issue #13's TLS option, end to end with certificates the test generates: nodes serve HTTPS on
/// their client and peer endpoints, Raft and the read-index calls between nodes go over TLS
/// (validated against the private CA), a router serves HTTPS and proxies to the nodes over HTTPS,
/// and nothing answers in clear text or to a client that does not trust the CA.
/// </summary>
public sealed class TlsTests
{
    [Fact]
    public async Task A_cluster_on_https_elects_replicates_and_serves_linearizable_reads_over_tls_only()
    {
        using var certificates = TestCertificates.Create();
        await using var cluster = await InProcessCluster.StartAsync(
            certificates.Settings(),
            https: true,
            clientHandler: certificates.TrustingHandler);

        // Elected and writable: Raft between the nodes runs over TLS (their peer URLs are https).
        Assert.All(cluster.PeerUrls.Concat(cluster.Urls), u => Assert.Equal("https", u.Scheme));
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        using (var client = cluster.Client(leader))
        {
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("/cache/tls/k", new StringContent("over tls"))).StatusCode);
        }

        // A follower's linearizable read asks the leader for a read index over TLS.
        for (var i = 0; i < 3; i++)
        {
            using var client = cluster.Client(i);
            Assert.Equal("over tls", await client.GetStringAsync("/cache/tls/k"));
        }

        // Through a router on HTTPS that reaches the nodes over HTTPS: a write (to the leader) and a read.
        await using (var router = await InProcessRouter.StartAsync(cluster, certificates.Settings(), https: true, clientHandler: certificates.TrustingHandler))
        {
            using var client = router.Client();
            Assert.Equal("https", client.BaseAddress!.Scheme);
            Assert.Equal(HttpStatusCode.Created, (await client.PutAsync("/cache/tls/routed", new StringContent("routed"))).StatusCode);
            Assert.Equal("routed", await client.GetStringAsync("/cache/tls/routed"));
            Assert.Equal("over tls", await client.GetStringAsync("/cache/tls/k"));
        }

        // Clients are told https URLs.
        var status = await cluster.StatusAsync((leader + 1) % 3);
        Assert.Equal(cluster.Urls[leader], status.LeaderUrl);

        // Nothing in clear text, and no trust without the CA.
        using (var plain = new HttpClient { BaseAddress = new UriBuilder(cluster.Urls[leader]) { Scheme = "http" }.Uri })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync("/health")); // Kestrel drops a clear-text request on an HTTPS endpoint
        }

        using (var untrusting = new HttpClient { BaseAddress = cluster.Urls[leader] })
        {
            var error = await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetAsync("/health"));
            Assert.IsType<AuthenticationException>(error.InnerException);
        }
    }
}
