using AspireCache.Router;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireCache.Testing;

/// <summary>The real router (YARP + policies + retries) in this process, in front of an <see cref="InProcessCluster"/>.</summary>
public sealed class InProcessRouter : IAsyncDisposable
{
    private readonly WebApplication _app;

    private readonly Func<HttpMessageHandler>? _clientHandler;

    private readonly InProcessCluster _cluster;

    private InProcessRouter(WebApplication app, Uri url, Func<HttpMessageHandler>? clientHandler, InProcessCluster cluster)
    {
        _app = app;
        Url = url;
        _clientHandler = clientHandler;
        _cluster = cluster;
    }

    public Uri Url { get; }

    /// <summary>The router's services (e.g. its <c>IMeterFactory</c>: the <c>Meter.Scope</c> of its own instruments).</summary>
    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// An HttpClient to the router that sends the cluster's <see cref="InProcessCluster.Credential"/>
    /// (<see cref="InProcessCluster.DefaultAdminKey"/> with the default credentials; none when the cluster has none).
    /// </summary>
    public HttpClient Client() => Client(_cluster.Credential);

    /// <summary>An HttpClient to the router that sends <paramref name="credential"/> as <c>Authorization: Bearer</c> (null: none).</summary>
    public HttpClient Client(string? credential)
    {
        var client = _clientHandler is { } handler ? new HttpClient(handler(), disposeHandler: true) : new HttpClient();
        client.BaseAddress = Url;
        client.Timeout = TimeSpan.FromSeconds(30);
        return InProcessCluster.Authorize(client, credential);
    }

    /// <param name="cluster">The nodes.</param>
    /// <param name="overrides">
    /// Router configuration. <c>Router:Credential</c> is <see cref="InProcessCluster.DefaultRouterKey"/> when the
    /// cluster runs with the default credentials (<see cref="InProcessCluster.HasDefaultCredentials"/>); give it
    /// here for a cluster that configures its own.
    /// </param>
    /// <param name="configure">Called on the builder before it is built (e.g. to capture logs).</param>
    /// <param name="https">Serve HTTPS and reach the nodes over HTTPS (the overrides then give the certificate and <c>Tls:CaCertificatePath</c>).</param>
    /// <param name="clientHandler">The handler <see cref="Client()"/> uses (e.g. one that trusts a test CA).</param>
    public static async Task<InProcessRouter> StartAsync(InProcessCluster cluster, IDictionary<string, string?>? overrides = null, Action<WebApplicationBuilder>? configure = null, bool https = false, Func<HttpMessageHandler>? clientHandler = null)
    {
        var scheme = https ? "https" : "http";
        var url = new Uri($"{scheme}://127.0.0.1:{TestPorts.Free()}");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        var settings = new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning" };
        for (var i = 0; i < cluster.NodeCount; i++)
        {
            settings[$"services:{cluster.NodeIds[i]}:{scheme}:0"] = cluster.Urls[i].ToString();
            if (cluster.NodeCount != InProcessCluster.Ids.Length)
            {
                settings[$"Router:Nodes:{i}"] = cluster.NodeIds[i]; // the router's default is node1..node3
            }
        }

        settings["Router:NodeScheme"] = scheme;
        if (cluster.HasDefaultCredentials)
        {
            settings["Router:Credential"] = InProcessCluster.DefaultRouterKey;
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls(url.ToString());
        builder.Logging.ClearProviders();
        configure?.Invoke(builder);
        builder.Services.AddServiceDiscovery();
        builder.Services.AddProblemDetails();
        builder.Services.AddHealthChecks();
        builder.AddRouterServices();
        var app = builder.Build();
        app.MapHealthChecks("/health"); // as Program.cs does through ServiceDefaults: clients' health checks read it
        app.MapRouter();
        await app.StartAsync();
        return new InProcessRouter(app, url, clientHandler, cluster);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

}
