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

    private InProcessRouter(WebApplication app, Uri url, Func<HttpMessageHandler>? clientHandler)
    {
        _app = app;
        Url = url;
        _clientHandler = clientHandler;
    }

    public Uri Url { get; }

    public HttpClient Client()
    {
        var client = _clientHandler is { } handler ? new HttpClient(handler(), disposeHandler: true) : new HttpClient();
        client.BaseAddress = Url;
        client.Timeout = TimeSpan.FromSeconds(30);
        return client;
    }

    /// <param name="cluster">The nodes.</param>
    /// <param name="overrides">Router configuration (e.g. <c>Router:Credential</c> when the nodes enforce authentication).</param>
    /// <param name="configure">Called on the builder before it is built (e.g. to capture logs).</param>
    /// <param name="https">Serve HTTPS and reach the nodes over HTTPS (the overrides then give the certificate and <c>Tls:CaCertificatePath</c>).</param>
    /// <param name="clientHandler">The handler <see cref="Client"/> uses (e.g. one that trusts a test CA).</param>
    public static async Task<InProcessRouter> StartAsync(InProcessCluster cluster, IDictionary<string, string?>? overrides = null, Action<WebApplicationBuilder>? configure = null, bool https = false, Func<HttpMessageHandler>? clientHandler = null)
    {
        var scheme = https ? "https" : "http";
        var url = new Uri($"{scheme}://127.0.0.1:{TestPorts.Free()}");
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        var settings = new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Warning" };
        for (var i = 0; i < InProcessCluster.Ids.Length; i++)
        {
            settings[$"services:{InProcessCluster.Ids[i]}:{scheme}:0"] = cluster.Urls[i].ToString();
        }

        settings["Router:NodeScheme"] = scheme;

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
        return new InProcessRouter(app, url, clientHandler);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

}
