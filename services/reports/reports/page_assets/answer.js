(function () {
  var f = document.getElementById("answer");
  if (!f) return;
  var sid = f.elements._sid, key = "report-answer:" + f.getAttribute("data-key");
  try {
    var kept = sessionStorage.getItem(key);
    if (kept) sid.value = kept; else sessionStorage.setItem(key, sid.value);
  } catch (e) {}
  function value(name) {
    var inputs = f.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].checked && !inputs[i].disabled) return inputs[i].value;
    }
    return null;
  }
  function sync() {
    var asked = f.querySelectorAll("[data-if]");
    for (var i = 0; i < asked.length; i++) {
      var q = asked[i], on = value(q.getAttribute("data-if")) === q.getAttribute("data-eq");
      q.hidden = !on;
      var inputs = q.querySelectorAll("input,textarea");
      for (var j = 0; j < inputs.length; j++) inputs[j].disabled = !on;
    }
  }
  var button = f.querySelector("button");
  f.addEventListener("change", sync);
  f.addEventListener("submit", function () { button.disabled = true; });
  window.addEventListener("pageshow", function () { button.disabled = false; });
  sync();
})();
