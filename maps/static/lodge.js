/* Lodging a declaration: the form becomes the declaration's JSON as typed (customs control checks
 * everything, so nothing is judged here); each error customs returns is shown at the field its path
 * names ("items/1/net_mass_kg"), in the page's language. Accepted or held: back to the list. */
(function () {
    "use strict";

    var _ = SW._, el = Screens.el;
    var form = document.getElementById("lodge");
    var items = document.getElementById("lodge-item-list");
    var template = document.getElementById("lodge-item");
    var general = document.getElementById("lodge-general");

    function field(path) { return form.querySelector('[data-path="' + path + '"]'); }
    function text(path) { var f = field(path); var v = f ? f.value.trim() : ""; return v === "" ? undefined : v; }
    // A list typed with commas (plates may hold spaces, so only commas and semicolons separate).
    function list(path) {
        var v = text(path);
        return v === undefined ? undefined : v.split(/[,;]/).map(function (s) { return s.trim(); }).filter(Boolean);
    }
    // A number as typed; what is not one is sent as text, and customs says so at its field.
    function number(value) {
        if (value === undefined) { return undefined; }
        var n = Number(value.replace(",", "."));
        return isNaN(n) ? value : n;
    }

    function renumber() {
        items.querySelectorAll(".lf-item").forEach(function (set, i) {
            set.querySelector(".lf-no").textContent = String(i + 1);
            set.querySelectorAll("input").forEach(function (input) { input.dataset.path = "items/" + i + "/" + input.dataset.key; });
        });
    }

    function addItem() {
        var set = template.content.firstElementChild.cloneNode(true);
        set.querySelector(".lf-remove").addEventListener("click", function () { set.remove(); renumber(); });
        items.appendChild(set);
        renumber();
    }

    function body() {
        var route = text("itinerary/route_code"), places = list("itinerary/places");
        return {
            lrn: text("lrn"),
            declarant: { tin: text("declarant/tin"), name: text("declarant/name") },
            carrier: { name: text("carrier/name"), tin: text("carrier/tin") },
            vehicle_plate: text("vehicle_plate"),
            trailers: list("trailers"),
            containers: list("containers"),
            items: Array.prototype.map.call(items.querySelectorAll(".lf-item"), function (set) {
                var item = {};
                set.querySelectorAll("input").forEach(function (input) {
                    var v = input.value.trim();
                    if (v !== "") { item[input.dataset.key] = "number" in input.dataset ? number(v) : v; }
                });
                return item;
            }),
            office_of_departure: text("office_of_departure"),
            offices_of_transit: list("offices_of_transit"),
            office_of_destination: text("office_of_destination"),
            itinerary: route ? { route_code: route } : (places ? { places: places } : undefined),
            seal_count: number(text("seal_count")),
            origin_country: text("origin_country")
        };
    }

    function clearErrors() {
        form.querySelectorAll(".sw-invalid").forEach(function (f) { f.classList.remove("sw-invalid"); });
        form.querySelectorAll(".sw-field-error").forEach(function (s) { s.hidden = true; s.textContent = ""; });
    }

    // The element showing an error at ``path``: the field itself, else the nearest enclosing one
    // ("trailers/1" is shown at the trailers field, "items" at the goods), else the form's top.
    function target(path) {
        var parts = path ? path.split("/") : [];
        while (parts.length) {
            var f = form.querySelector('[data-path="' + parts.join("/") + '"]') ||
                form.querySelector('[data-field="' + parts.join("/") + '"]');
            if (f) { return f; }
            parts.pop();
        }
        return null;
    }

    function showError(e) {
        var f = target(e.path);
        var message = SW.label("error_code", e.code);
        if (!f) {
            general.hidden = false;
            general.appendChild(el("span", { "data-code": e.code, text: (e.path ? e.path + ": " : "") + message + " " }));
            return;
        }
        var box = f.closest(".lf, .lf-set") || f;
        var slot = box.querySelector(".sw-field-error");
        var input = box.matches("input, select") ? box : box.querySelector("input, select");
        if (input && box.classList.contains("lf")) { input.classList.add("sw-invalid"); }
        slot.hidden = false;
        slot.appendChild(el("span", { "data-code": e.code, "data-error-path": e.path, text: message + " " }));
    }

    form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        clearErrors();
        var button = document.getElementById("lodge-submit");
        button.disabled = true;
        fetch("/api/declarations", {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "Accept": "application/json" },
            body: JSON.stringify(body())
        }).then(function (resp) {
            return resp.json().catch(function () { return {}; }).then(function (out) {
                button.disabled = false;
                if (resp.status === 401) { SW.loginAgain(); return; }
                if (resp.status === 201) { location.assign("/declarant?lodged=" + out.id); return; }
                if (resp.status === 422 && out.errors) {
                    out.errors.forEach(showError);
                    var first = form.querySelector(".sw-invalid") || general;
                    first.scrollIntoView({ block: "center" });
                    if (first.focus) { first.focus(); }
                    return;
                }
                var detail = out.detail;
                if (detail && detail.code === "duplicate_lrn") {
                    showError({ path: "lrn", code: "duplicate_lrn" });
                    field("lrn").closest(".lf").querySelector(".sw-field-error").textContent = _("You already lodged a declaration with this reference.");
                    return;
                }
                general.hidden = false;
                general.textContent = SW.errorText(resp.status) + (detail && detail.message ? " " + detail.message : "");
            });
        }, function () {
            button.disabled = false;
            general.hidden = false;
            general.textContent = _("No connection: the declaration was not sent.");
        });
    });

    document.getElementById("lodge-add-item").addEventListener("click", addItem);
    addItem();
    SW.api("/api/zones").then(function (zones) {
        var offices = zones.filter(function (z) { return z.active && (z.kind === "customs_office" || z.kind === "border_checkpoint"); });
        form.querySelectorAll(".lf-office").forEach(function (select) {
            offices.forEach(function (z) { select.appendChild(el("option", { value: z.code, text: z.code + " · " + z.name })); });
        });
    });
    Screens.routes(field("itinerary/route_code"));
})();
