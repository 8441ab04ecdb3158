using AspireCache.Router;
using AspireCache.Router.Diagnostics;

var builder = WebApplication.CreateBuilder(args);

builder.AddBasicServiceDefaults(RouterTelemetry.Name);
builder.AddRouterServices();

var app = builder.Build();

app.UseExceptionHandler();
app.MapDefaultEndpoints();
app.MapRouter();

app.Run();

/// <summary>Entry point marker for tests.</summary>
public partial class Program;
