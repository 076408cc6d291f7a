from django.views.decorators.csrf import csrf_exempt


# ruleid: csrf-protection-disabled
@csrf_exempt
def webhook(request):
    return None


# ok: csrf-protection-disabled
def normal_view(request):
    return None
